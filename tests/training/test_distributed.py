"""Horovod (CPU, Gloo): 2 workers equal 1 process with the same global batch; the card's launch (`horovodrun -np 2
python run_pretraining.py`, no --horovod) runs one coordinated job; resume across worker counts; run directory seen
by every rank."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.training.conftest import ROOT, pretrain_flags, read_log, tiny_model_config

horovodrun = shutil.which("horovodrun") or os.path.join(os.path.dirname(sys.executable), "horovodrun")
if not os.path.exists(horovodrun):
    if os.environ.get("ELECTRA_REQUIRE_HOROVOD") == "1":   # run_scripts/run_tests.sh (CI): absence is a failure
        raise RuntimeError("horovodrun not found although ELECTRA_REQUIRE_HOROVOD=1: run electra-install-horovod")
    pytest.skip("Horovod is not installed (electra-install-horovod; run_scripts/run_tests.sh runs it)",
                allow_module_level=True)

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}


def _horovodrun(args, timeout=600):
    cmd = [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_two_workers_equal_one_process(tmp_path):
    script = os.path.join(ROOT, "tests", "training", "hvd_equivalence.py")
    single = subprocess.run([sys.executable, script, str(tmp_path / "single.npz")], capture_output=True, text=True,
                            timeout=600, cwd=ROOT, env=ENV)
    assert single.returncode == 0, single.stderr[-3000:]
    _horovodrun([script, str(tmp_path / "hvd.npz"), "--horovod"])
    one = np.load(tmp_path / "single.npz")
    ranks = [np.load(tmp_path / f"hvd.rank{r}.npz") for r in (0, 1)]
    names = [k for k in one.files if k.startswith("w:")]
    assert len(names) > 50
    np.testing.assert_allclose(ranks[0]["losses"], one["losses"], atol=1e-5)
    np.testing.assert_array_equal(ranks[0]["losses"], ranks[1]["losses"])
    for name in names:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name], err_msg=f"ranks differ in {name}")
        np.testing.assert_allclose(ranks[0][name], one[name], atol=1e-5, err_msg=name)
    assert not np.allclose(one["losses"][0], one["losses"][-1])  # the steps did something


def _summaries(result):
    """The JSON summary each rank prints last (horovodrun prefixes lines with ``[rank]<stdout>:``)."""
    found = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\[(\d+)\]<stdout>:(\{.*\})\s*$", line)
        if match:
            found[int(match.group(1))] = json.loads(match.group(2))
    return found


def _pretrain(data, output, model_config, ranks, *extra, **flags):
    args = [os.path.join(ROOT, "run_scripts", "run_pretraining.py"),
            *pretrain_flags(data, output, model_config, **flags), *extra]
    if ranks == 1:
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                                env=ENV)
        assert result.returncode == 0, result.stderr[-3000:]
        return {0: json.loads(result.stdout.strip().splitlines()[-1])}
    return _summaries(_horovodrun(args))


def test_card_command_line_runs_one_coordinated_job(pretraining_data, tmp_path):
    """`horovodrun -np 2 python run_pretraining.py ...` without --horovod: one job, not two."""
    output = str(tmp_path / "run")
    summaries = _pretrain(pretraining_data, output, tiny_model_config(tmp_path / "model.json"), 2,
                          total_steps=6, save_checkpoints_steps=3, train_batch_size=2, global_batch_size=4)
    assert sorted(summaries) == [0, 1] and all(s["world_size"] == 2 for s in summaries.values())
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]   # identical weights on both ranks
    log = read_log(output)
    assert [r["step"] for r in log] == list(range(1, 7))  # one writer: rank 0
    assert all(np.isfinite(r["loss"]) for r in log)
    checkpoints = os.path.join(output, "checkpoints")
    assert sorted(n for n in os.listdir(checkpoints) if n.endswith(".index")) == ["ckpt-3.index", "ckpt-6.index"]
    assert sorted(os.listdir(os.path.join(checkpoints, "input"))) == ["rank0", "rank1"]  # each rank's input position
    with open(os.path.join(output, "run_info.json"), encoding="utf-8") as f:
        assert json.load(f)["world_size"] == 2


def test_resume_with_another_number_of_workers(pretraining_data, tmp_path):
    output, config = str(tmp_path / "run"), tiny_model_config(tmp_path / "model.json")
    common = dict(save_checkpoints_steps=2, train_batch_size=2)
    _pretrain(pretraining_data, output, config, 1, total_steps=8, steps_this_run=2, **common)
    two = _pretrain(pretraining_data, output, config, 2, total_steps=8, steps_this_run=2, **common)
    assert two[0]["step"] == 4 and two[0]["weights_sha256"] == two[1]["weights_sha256"]
    one = _pretrain(pretraining_data, output, config, 1, total_steps=8, steps_this_run=2, **common)
    assert one[0]["step"] == 6
    log = read_log(output)
    events = [r for r in log if r.get("event") == "world_size_changed"]
    assert [(e["step"], e["previous_world_size"], e["world_size"]) for e in events] == [(2, 1, 2), (4, 2, 1)]
    assert "fresh position" in events[0]["message"]
    assert [r["step"] for r in log if "loss" in r] == list(range(1, 7))
    _pretrain(pretraining_data, output, config, 1, total_steps=8, **common)   # same size again: exact resume path
    assert len([r for r in read_log(output) if r.get("event")]) == 2


SPLIT_DIRECTORY = textwrap.dedent("""
    import os, runpy, sys
    script, args = sys.argv[1], sys.argv[2:]
    if os.environ.get("HOROVOD_RANK") == "1":   # as if rank 1 ran on a node with its own local disk
        args = [a + "-node-local" if a.startswith("--output_dir=") else a for a in args]
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")
""")


def test_rank_that_does_not_see_the_run_directory_stops_the_job(pretraining_data, tmp_path):
    output = str(tmp_path / "run")
    flags = pretrain_flags(pretraining_data, output, tiny_model_config(tmp_path / "model.json"), train_batch_size=2)
    cmd = [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, "-c", SPLIT_DIRECTORY,
           os.path.join(ROOT, "run_scripts", "run_pretraining.py"), *flags]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=ENV)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "rank 1 on host" in text and "does not see the --output_dir" in text, text[-3000:]
    assert not os.path.exists(os.path.join(output, "checkpoints"))
    assert not os.path.exists(os.path.join(output, "train_log.jsonl"))


def test_run_squad_under_horovodrun(tmp_path):
    from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab
    vocab = write_word_vocab(tmp_path, squad_texts())
    config = tmp_path / "model.json"
    from tests.conftest import tiny_config
    with open(vocab, encoding="utf-8") as f:
        tiny_config(vocab_size=sum(1 for _ in f), max_position_embeddings=128).to_json_file(str(config))
    output = tmp_path / "squad"
    _horovodrun([os.path.join(ROOT, "run_scripts", "run_squad.py"), "--mode=train", f"--train_file={TINY_SQUAD}",
                 f"--vocab_file={vocab}", f"--model.config_file={config}", f"--output_dir={output}",
                 "--max_seq_length=128", "--doc_stride=64", "--max_query_length=32", "--max_steps=4",
                 "--train_batch_size=2"])
    assert len(os.listdir(output / "feature_cache")) == 1          # built once, by rank 0
    with open(output / "train_log.jsonl", encoding="utf-8") as f:
        assert [json.loads(line)["step"] for line in f] == [4]
    with open(output / "run_summary.json", encoding="utf-8") as f:
        summary = json.load(f)["train"]
    assert summary["step"] == 4 and summary["world_size"] == 2 and summary["global_batch_size"] == 4


def test_one_workers_stop_signal_stops_every_worker_at_the_same_step(pretraining_data, tmp_path):
    """SIGTERM to rank 1 alone after its step 3: both ranks stop after the same step (the request travels in the
    step's allreduce), save one checkpoint with each rank's input state, exit 143; the rerun equals an
    uninterrupted two-worker run."""
    config = tiny_model_config(tmp_path / "model.json")
    common = dict(total_steps=10, save_checkpoints_steps=100, train_batch_size=2)
    full = _pretrain(pretraining_data, str(tmp_path / "full"), config, 2, **common)
    output = str(tmp_path / "run")
    flags = pretrain_flags(pretraining_data, output, config, **common)
    cmd = [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable,
           os.path.join(ROOT, "tests", "training", "kill_at_step.py"), "3", "--signal=TERM", *flags]
    stopped = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT,
                             env={**ENV, "KILL_RANK": "1"})
    text = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0, text[-3000:]
    (event,) = [r for r in read_log(output) if r.get("event") == "stopped"]
    step = event["step"]
    assert 3 < step < 10 and event["signal"] == "SIGTERM", event
    lines = re.findall(r"\[(\d)\]<stderr>:electra-pretrain: stopped by SIGTERM after step (\d+)", text)
    assert sorted(lines) == [("0", str(step)), ("1", str(step))], text[-3000:]
    checkpoints = os.path.join(output, "checkpoints")
    for path in ("", "input/rank0/", "input/rank1/"):
        assert os.path.exists(os.path.join(checkpoints, f"{path}ckpt-{step}.index")), path
    resumed = _summaries(_horovodrun([os.path.join(ROOT, "run_scripts", "run_pretraining.py"), *flags]))
    assert resumed[0]["weights_sha256"] == resumed[1]["weights_sha256"] == full[0]["weights_sha256"]
    assert [r["step"] for r in read_log(output) if "loss" in r] == list(range(1, 11))
