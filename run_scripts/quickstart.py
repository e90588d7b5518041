"""The README's first command runs this: the whole pipeline on the embedded default, on a CPU, in minutes.

Stages: embedded corpus (CPython's documentation text) → sentence shards → WordPiece vocab → packed TFRecords →
pretrain the tiny ELECTRA (loss falling, progress shown) → extract the discriminator (checked against its Hugging
Face export) → fine-tune it on a small SQuAD-format set, and the same model from random initialization for
comparison → EM/F1 → SavedModel export → one question answered from the SavedModel alone. Every artifact lands
under --output_dir, named at the end.
"""
from __future__ import annotations

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("output_dir", "output/quickstart", "Where every artifact is written.")
flags.DEFINE_integer("pretrain_steps", 400, "Pretraining steps of the tiny model.")
flags.DEFINE_integer("finetune_steps", 300, "SQuAD fine-tuning steps (each of the two fine-tunings).")
flags.DEFINE_string("squad_file", os.path.join(ROOT, "tests", "fixtures", "squad", "tiny_squad.json"),
                    "SQuAD v2.0-format set to fine-tune and evaluate on.")
flags.DEFINE_integer("seed", 42, "Random seed.")
FLAGS = flags.FLAGS


def stage(number: int, text: str) -> None:
    print(f"\n[{number}/5] {text}", flush=True)


def main(argv):
    del argv
    import numpy as np

    from electra.cli import build, load_recipe
    from electra.configs import ModelConfig, PretrainConfig, SquadConfig
    from electra.data import MaskingConfig
    from electra.data.pretraining import SpecialIds, list_files, pretraining_dataset
    from electra.interop import load_hf_electra
    from electra.modeling import ElectraDiscriminator
    from electra.modeling.store import resolve_source
    from electra.squad.inference import SavedModelPredictor
    from electra.tokenization import load_tokenizer
    from electra.training.extract import extract
    from electra.tasks.pretraining import run as run_pretraining
    from electra.tasks.squad import run as run_squad
    from electra.training.logs import read_log

    out = os.path.abspath(FLAGS.output_dir)
    start = time.time()
    stage(1, f"corpus → vocab → TFRecords → pretraining the tiny ELECTRA ({FLAGS.pretrain_steps} steps)")
    pretrain_dir = os.path.join(out, "pretrain")
    from data_prep.embedded import default_pretraining_data
    recipe = load_recipe(os.path.join(ROOT, "recipes", "pretrain_tiny_cpu.json"))
    summary = run_pretraining(build(PretrainConfig, recipe,
                                    output_dir=pretrain_dir, total_steps=FLAGS.pretrain_steps,
                                    warmup_steps=FLAGS.pretrain_steps // 10, eval_every=FLAGS.pretrain_steps,
                                    seed=FLAGS.seed), default_pretraining_data)
    log = read_log(os.path.join(pretrain_dir, "train_log.jsonl"))
    train = [r for r in log if r.get("type") == "train"]
    validation = [r for r in log if r.get("type") == "eval"]

    stage(2, "extracting the discriminator; its Hugging Face export must give identical logits")
    extracted = extract(pretrain_dir, os.path.join(out, "extracted"))
    config = ModelConfig.from_json_file(os.path.join(pretrain_dir, "model_config.json"))
    tokenizer = load_tokenizer(extracted["vocab_file"])
    with open(os.path.join(pretrain_dir, "data", "dataset.json"), encoding="utf-8") as f:
        held_out = list_files(json.load(f)["validation_files"], "validation")
    batch = next(iter(pretraining_dataset(held_out, 8, 128, MaskingConfig(), SpecialIds.from_tokenizer(tokenizer),
                                          training=False)))
    ours, theirs = ElectraDiscriminator(config), ElectraDiscriminator(config)
    resolve_source(extracted["discriminator_dir"]).load_into(ours)
    load_hf_electra(theirs, extracted["discriminator_hf"])
    diff = float(np.max(np.abs(ours(batch).numpy() - theirs(batch).numpy())))

    def fine_tune(name: str, init: str | None, export_dir: str | None) -> dict:
        return run_squad(build(SquadConfig, output_dir=os.path.join(out, name), vocab_file=extracted["vocab_file"],
                               mode="train_eval", train_file=FLAGS.squad_file, predict_file=FLAGS.squad_file,
                               init=init, model_config_file=os.path.join(pretrain_dir, "model_config.json"),
                               version_2_with_negative=True, learning_rate=1e-3, max_steps=FLAGS.finetune_steps,
                               train_batch_size=16, predict_batch_size=32, precision="fp32", xla=False,
                               seed=FLAGS.seed, export_dir=export_dir))

    stage(3, f"fine-tuning the pretrained discriminator on {os.path.basename(FLAGS.squad_file)} "
             f"({FLAGS.finetune_steps} steps, seq 384, stride 128, query 64)")
    export_dir = os.path.join(out, "saved_model")
    pretrained = fine_tune("squad_pretrained", extracted["discriminator_dir"], export_dir)
    stage(4, "the same fine-tuning from random initialization, for comparison")
    scratch = fine_tune("squad_random_init", None, None)

    stage(5, "answering a question from the SavedModel alone")
    with open(FLAGS.squad_file, encoding="utf-8") as f:
        paragraph = json.load(f)["data"][0]["paragraphs"][0]
    question = next(q for q in paragraph["qas"] if not q.get("is_impossible"))
    answer = SavedModelPredictor(export_dir).answer(question["question"], paragraph["context"])

    ours_f1, scratch_f1 = pretrained["eval"]["f1"], scratch["eval"]["f1"]
    print(f"\npretraining: loss {train[0]['loss']:.2f} → {train[-1]['loss']:.2f}, discriminator accuracy "
          f"{train[0]['metrics']['disc_accuracy']:.3f} → {train[-1]['metrics']['disc_accuracy']:.3f}, held-out loss "
          f"{validation[-1]['metrics']['loss']:.2f} ({summary['step']} steps)")
    print(f"Hugging Face export re-imported: max discriminator logit difference {diff:.1e}")
    print("SQuAD v2.0 metrics on the fine-tuning set's own questions (a smoke test, not a generalization score):")
    print(f"  pretrained ELECTRA     EM {pretrained['eval']['exact']:.1f}  F1 {ours_f1:.1f}")
    print(f"  random initialization EM {scratch['eval']['exact']:.1f}  F1 {scratch_f1:.1f}")
    if ours_f1 > scratch_f1:
        print("  → pretraining helped.")
    else:
        print("  → pretraining did NOT beat random initialization here: the embedded corpus (~0.35 MB of Python "
              "docs) and a few hundred steps are too little to learn transferable English; use a real corpus.")
    print(f"Q: {question['question']}\nA: {answer['text']!r} (characters {answer['start_char']}–"
          f"{answer['end_char']}, score {answer['score']:.2f}; gold {question['answers'][0]['text']!r})")
    print(f"\nDone in {time.time() - start:.0f}s. Artifacts: {out}")
    discriminator_dir = extracted["discriminator_dir"]
    print(f"  pretraining run: {pretrain_dir}\n  discriminator:   {discriminator_dir}"
          f"\n  SQuAD runs:      {out}/squad_pretrained, {out}/squad_random_init\n  SavedModel:      {export_dir}")
    if not (train[-1]["loss"] < train[0]["loss"] and diff == 0.0):
        raise SystemExit("quickstart check failed: the loss did not fall or the re-imported model differs")


if __name__ == "__main__":
    app.run(main)
