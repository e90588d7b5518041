"""The README's first command runs this: the whole pipeline, as far as it exists, on the embedded default.

Stages: embedded corpus (CPython's documentation text) → sentence shards → WordPiece vocab → packed TFRecords →
pretrain the tiny ELECTRA (loss falling, progress shown) → extract the discriminator and generator → export to
Hugging Face safetensors and re-import with identical outputs. SQuAD fine-tuning, EM/F1 and the SavedModel are
the next milestone. Every artifact lands under --output_dir, named at the end.
"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

flags.DEFINE_string("output_dir", "output/quickstart", "Where every artifact is written.")
flags.DEFINE_integer("pretrain_steps", 400, "Pretraining steps of the tiny model.")
flags.DEFINE_integer("seed", 42, "Random seed.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    from electra.configs import ModelConfig, PretrainConfig
    from electra.data import MaskingConfig
    from electra.data.pretraining import SpecialIds, list_files, pretraining_dataset
    from electra.interop import load_hf_electra
    from electra.modeling import ElectraDiscriminator
    from electra.tokenization import load_tokenizer
    from electra.training.checkpointing import load_model_weights
    from electra.training.postprocess import extract
    from electra.training.pretrain import run

    out = os.path.abspath(FLAGS.output_dir)
    start = time.time()
    print(f"[1/3] corpus → vocab → TFRecords → pretraining the tiny ELECTRA ({FLAGS.pretrain_steps} steps)")
    pretrain_dir = os.path.join(out, "pretrain")
    summary = run(PretrainConfig(output_dir=pretrain_dir, model_size="tiny", total_steps=FLAGS.pretrain_steps,
                                 warmup_steps=FLAGS.pretrain_steps // 10, train_batch_size=32, log_freq=20,
                                 validation_freq=FLAGS.pretrain_steps, validation_steps=8, xla=False,
                                 save_checkpoints_steps=200, seed=FLAGS.seed))
    with open(os.path.join(pretrain_dir, "train_log.jsonl"), encoding="utf-8") as f:
        log = [json.loads(line) for line in f]
    train = [r for r in log if "loss" in r]
    validation = [r for r in log if "validation_loss" in r]

    print("[2/3] extracting the discriminator and generator")
    extracted = extract(pretrain_dir, os.path.join(out, "extracted"))

    print("[3/3] Hugging Face export → re-import → identical logits")
    with open(os.path.join(pretrain_dir, "data", "dataset.json"), encoding="utf-8") as f:
        dataset = json.load(f)
    config = ModelConfig.from_json_file(os.path.join(pretrain_dir, "model_config.json"))
    tokenizer = load_tokenizer(extracted["vocab_file"])
    batch = next(iter(pretraining_dataset(list_files(dataset["validation_files"], "validation"), 8, 128,
                                          MaskingConfig(), SpecialIds.from_tokenizer(tokenizer), training=False)))
    ours, theirs = ElectraDiscriminator(config), ElectraDiscriminator(config)
    load_model_weights(ours, extracted["discriminator_checkpoint"])
    load_hf_electra(theirs, extracted["discriminator_hf"])
    diff = float(np.max(np.abs(ours(batch).numpy() - theirs(batch).numpy())))

    print(f"\npretraining loss {train[0]['loss']:.2f} → {train[-1]['loss']:.2f}, discriminator accuracy "
          f"{train[0]['disc_accuracy']:.3f} → {train[-1]['disc_accuracy']:.3f}, validation loss "
          f"{validation[-1]['validation_loss']:.2f} ({summary['step']} steps)")
    print(f"HF safetensors re-imported: max discriminator logit difference {diff:.1e}")
    print("Not yet in this run (next milestone): SQuAD fine-tuning, EM/F1, SavedModel export and serving.")
    print(f"Done in {time.time() - start:.0f}s. Artifacts: {out}")
    if not (train[-1]["loss"] < train[0]["loss"] and diff == 0.0):
        raise SystemExit("quickstart check failed: loss did not fall or the re-imported model differs")


if __name__ == "__main__":
    app.run(main)
