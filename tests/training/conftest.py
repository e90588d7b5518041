import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(path, words=95):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(SPECIALS + [f"w{i}" for i in range(words)]) + "\n")
    return str(path)


def write_records(directory, files=2, per_file=24, seq=32, vocab=100, seed=0, name="part"):
    """Packed-looking records: [CLS] A [SEP] B [SEP] with some padding (ids: PAD 0, CLS 2, SEP 3, MASK 4)."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    paths = []
    for f in range(files):
        path = os.path.join(directory, f"{name}-{f:03d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for _ in range(per_file):
                length = int(rng.integers(seq // 2, seq + 1))
                split = int(rng.integers(2, length - 2))
                ids = np.zeros(seq, np.int64)
                ids[:length] = rng.integers(5, vocab, size=length)
                ids[0], ids[split], ids[length - 1] = 2, 3, 3
                mask = (np.arange(seq) < length).astype(np.int64)
                segments = ((np.arange(seq) > split) & (mask > 0)).astype(np.int64)
                feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v.tolist()))
                           for k, v in (("input_ids", ids), ("input_mask", mask), ("segment_ids", segments))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def pretraining_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("pretraining_data")
    write_records(base / "train", files=3, seed=0)
    write_records(base / "valid", files=1, per_file=16, seed=1)
    vocab = write_vocab(base / "vocab.txt")
    return {"train": str(base / "train" / "*.tfrecord"), "valid": str(base / "valid" / "*.tfrecord"), "vocab": vocab,
            "base": base}


def tiny_model_config(path):
    from electra.configs import ModelConfig
    config = ModelConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, generator_hidden_size=16, generator_num_hidden_layers=2,
                         generator_num_attention_heads=2, generator_intermediate_size=32, max_position_embeddings=64)
    config.to_json_file(str(path))
    return str(path)


def pretrain_flags(data, output_dir, model_config, **extra):
    """Dotted flags of a small run; ``extra`` by a field's own name (``total_steps=2``) replaces or adds one."""
    from electra.cli import flag_table
    from electra.configs import PretrainConfig
    values = {"output_dir": output_dir, "model.config_file": model_config, "data.train_files": data["train"],
              "data.vocab_file": data["vocab"], "data.max_seq_length": 32, "data.train_batch_size": 4,
              "trainer.total_steps": 20, "optimizer.warmup_steps": 2, "optimizer.learning_rate": 2e-3,
              "trainer.log_every": 1, "trainer.checkpoint_every": 5, "trainer.seed": 7, "trainer.xla": False,
              "data.shuffle_buffer": 32}
    table = flag_table(PretrainConfig, leaf_names=True)
    values.update({table[k].name: v for k, v in extra.items()})
    return [f"--{k}={v}" for k, v in values.items()]


def run_script(args, timeout=600, check=True, env=None):
    cmd = [sys.executable, os.path.join(ROOT, "run_scripts", "run_pretraining.py"), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def read_log(output_dir):
    """``train_log.jsonl`` with each train record's task metrics beside its common keys, and eval records as
    ``validation_<metric>`` keys (so ``"loss" in record`` selects the train records)."""
    from electra.training.logs import read_log as read
    records = []
    for record in read(os.path.join(output_dir, "train_log.jsonl")):
        if record.get("type") == "train":
            record = {**record, **record["metrics"]}
        elif record.get("type") == "eval":
            record = {"step": record["step"], "type": "eval",
                      **{f"validation_{k}": v for k, v in record["metrics"].items()}}
        records.append(record)
    return records


def reference_flags(data, output_dir, model_config, **extra):
    """``pretrain_flags`` plus a validation evaluation every 10 steps: the settings of the shared reference run."""
    return pretrain_flags(data, output_dir, model_config, eval_every=10, validation_files=data["valid"],
                          eval_steps=2, **extra)


@pytest.fixture(scope="session")
def reference_run(pretraining_data, tmp_path_factory):
    """One uninterrupted 20-step run (``reference_flags``), which every stop/kill/full-disk test resumes towards:
    ``config`` (model config file), ``output`` (its run directory), ``flags(output_dir)``."""
    base = tmp_path_factory.mktemp("reference")
    config = tiny_model_config(base / "model.json")
    output = str(base / "run")
    run_script(reference_flags(pretraining_data, output, config))
    return {"config": config, "output": output,
            "flags": lambda output_dir, **extra: reference_flags(pretraining_data, output_dir, config, **extra)}


def pretrain_in_process(data, output, model_config, **values):
    """A small pretraining run in this process (``electra.tasks.pretraining.run``); ``values`` by a field's own name
    replace the defaults. Returns its summary."""
    from electra import cli
    from electra.configs import PretrainConfig
    from electra.tasks.pretraining import run
    settings = dict(output_dir=str(output), config_file=model_config, train_files=data["train"],
                    vocab_file=data["vocab"], max_seq_length=32, train_batch_size=4, total_steps=12, warmup_steps=1,
                    log_every=4, checkpoint_every=12, eval_every=0, xla=False, shuffle_buffer=16)
    settings.update(values)
    return run(cli.build(PretrainConfig, settings))
