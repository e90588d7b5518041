"""The accuracy benchmark without torch: its data cuts are valid input for both sides and disjoint, the peer's own
readers see the same words, tags, sentences and labels as ours, our command's flags bind to the schedule the peer
runs, and the comparison's spreads are right. Real excerpts from tests/fixtures (GLUE SST-2, UD-EWT, WNUT-17)."""
import math
import os

import pytest

from benchmarks import finetune_accuracy as bench
from benchmarks import finetune_accuracy_reference as reference
from electra.classification.data import read_glue
from electra.commands.finetune import COMMAND
from electra.tagging.data import read_conll, read_conllu
from electra.tokenization import load_tokenizer
from electra.training.optimization import WarmupPolyDecay

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
SST2 = os.path.join(FIXTURES, "glue", "SST-2", "train.tsv")
EWT = [os.path.join(FIXTURES, "tagging", f"en_ewt-ud-{split}.conllu") for split in ("train", "dev")]
WNUT = [os.path.join(FIXTURES, "tagging", f"wnut17_{split}.conll") for split in ("train", "dev")]
VOCAB = os.path.join(FIXTURES, "vocab", "bert-uncased-vocab.txt")


def test_the_sst2_cut_is_the_first_and_last_rows_byte_for_byte_and_our_reader_takes_both(tmp_path):
    data = bench.cut_sst2(SST2, str(tmp_path), 25, 10)
    with open(SST2, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    with open(data["train_file"], encoding="utf-8", newline="") as f:
        assert f.readlines() == lines[:26]
    with open(data["eval_file"], encoding="utf-8", newline="") as f:
        assert f.readlines() == lines[:1] + lines[-10:]
    assert data["train"]["file_lines"] == [2, 26] and data["eval"]["file_lines"] == [len(lines) - 9, len(lines)]
    ours = read_glue("sst-2", data["train_file"]), read_glue("sst-2", data["eval_file"])
    peer = reference.read_sst(data["train_file"]), reference.read_sst(data["eval_file"])
    for our_part, peer_part in zip(ours, peer):
        assert [(e.text_a, e.label) for e in our_part] == peer_part
    with pytest.raises(ValueError, match="fewer than"):
        bench.cut_sst2(SST2, str(tmp_path), 30, 11)


@pytest.mark.parametrize("files, read", [(EWT, read_conllu), (WNUT, read_conll)], ids=["upos", "wnut17"])
def test_both_sides_read_the_same_sentences_as_our_reader(files, read):
    for path in files:
        ours = [(list(s.words), list(s.tags)) for s in read(path)]
        assert reference.read_tagged(path) == ours
        assert [(words, tags) for _, words, tags in bench.sentence_blocks(path)] == ours


def test_the_tagging_cut_fits_one_window_holds_no_unseen_tag_and_is_read_back_whole(tmp_path):
    tokenizer = load_tokenizer(VOCAB, lower_case=True)
    data = bench.cut_tagging(*EWT, str(tmp_path), 36, 30, tokenizer, 32)
    train, held_out = read_conllu(data["train_file"]), read_conllu(data["eval_file"])
    assert (len(train), len(held_out)) == (36, 30)
    for sentence in train + held_out:
        assert sum(len(tokenizer.encode(w)) for w in sentence.words) <= 30
    assert {t for s in held_out for t in s.tags} <= set(data["labels"]) == {t for s in train for t in s.tags}
    kept = {tuple(s.words) for s in train}
    skipped = [s for s in read_conllu(EWT[0])[:36 + data["train"]["skipped_not_fitting"]] if tuple(s.words) not in kept]
    assert len(skipped) == data["train"]["skipped_not_fitting"] > 0       # window 32 cuts some real sentences
    with pytest.raises(ValueError, match="fit"):
        bench.cut_tagging(*EWT, str(tmp_path), 39, 30, tokenizer, 32)      # 38 of 60 fit


def test_our_command_binds_to_the_schedule_the_peer_runs(tmp_path):
    args = bench.parse_args(["--weights_dir", str(tmp_path), "--learning_rate", "5e-5", "--epochs", "3"])
    data = {"train_file": WNUT[0], "eval_file": WNUT[1]}
    config = COMMAND.parse(bench.our_command("wnut17", str(tmp_path), data, str(tmp_path / "out"), 2, args)[2:],
                           check=False)
    o, t, d = config.optimizer, config.trainer, config.data
    assert (config.task, o.name, o.learning_rate, o.warmup_proportion, o.poly_power, o.end_learning_rate) == \
        ("tagging", "adamw", 5e-5, 0.1, 1.0, 0.0)
    assert (o.weight_decay, o.epsilon, o.beta_1, o.beta_2, o.grad_clip_norm) == (0.01, 1e-6, 0.9, 0.999, 1.0)
    assert (t.epochs, t.seed, t.keep_best, d.train_batch_size, d.max_seq_length) == (3.0, 2, "", 32, 64)
    total, warmup = 20, int(0.1 * 20)
    schedule = WarmupPolyDecay(5e-5, total, warmup, 1.0, 0.0)
    for step in range(total):        # transformers' get_linear_schedule_with_warmup, written out
        factor = step / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
        assert float(schedule(step)) == pytest.approx(5e-5 * factor, rel=1e-6, abs=1e-12)


def test_the_comparison_reports_spreads_and_whether_our_mean_is_in_the_peers_range():
    def runs(values):
        return [{"metrics": {"accuracy": v, "f1": v / 2}} for v in values]
    out = bench.compare(runs([0.80, 0.82, 0.84]), runs([0.79, 0.83, 0.85]))
    accuracy = out["accuracy"]
    assert accuracy["ours"]["mean"] == pytest.approx(0.82) and accuracy["ours"]["std"] == pytest.approx(0.02)
    assert (accuracy["peer"]["min"], accuracy["peer"]["max"]) == (0.79, 0.85)
    assert accuracy["ours_mean_within_peer_range"] and accuracy["ours_mean_within_peer_mean_2std"]
    assert math.isclose(accuracy["mean_difference"], 0.82 - 0.8233333333333334)
    out = bench.compare(runs([0.90, 0.91, 0.92]), runs([0.79, 0.83, 0.85]))
    assert not out["f1"]["ours_mean_within_peer_range"] and set(out) == {"accuracy", "f1"}
    assert "| sst-2 | f1 |" in bench.markdown({"tasks": {"sst-2": {"comparison": out}}})


def test_the_reference_imports_neither_tensorflow_nor_electra():
    with open(reference.__file__, encoding="utf-8") as f:
        source = f.read()
    assert "import tensorflow" not in source and "from electra" not in source and "import electra" not in source
    assert reference.tag_scheme(["O", "B-person", "I-person"]) == "BIO"
    assert reference.tag_scheme(["NOUN", "VERB", "X"]) == "none"
