"""Bad input stops the run before any training, with a message naming the flag or file."""
import math
import os
import shutil

import pytest

from electra.cli import build
from electra.configs import ConfigError, PretrainConfig
from electra.data.pretraining import InputError
from electra.interop import WeightLoadError
from electra.tasks.pretraining import run
from tests.training.conftest import pretrain_flags, read_log, run_script, tiny_model_config, write_records


def _config(data, output, model_config, **extra):
    values = dict(output_dir=str(output), config_file=model_config, train_files=data["train"],
                  vocab_file=data["vocab"], max_seq_length=32, train_batch_size=4, total_steps=4, warmup_steps=1,
                  log_freq=1, save_checkpoints_steps=2, xla=False, shuffle_buffer=16)
    values.update(extra)
    return build(PretrainConfig, values)


@pytest.fixture
def model_config(tmp_path):
    return tiny_model_config(tmp_path / "model.json")


def test_missing_and_empty_globs(pretraining_data, tmp_path, model_config):
    with pytest.raises(InputError, match=r"--data.train_files: no file matches '.*nothing-\*'"):
        run(_config(pretraining_data, tmp_path / "a", model_config, train_files=str(tmp_path / "nothing-*")))
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    with pytest.raises(InputError, match="empty TFRecord"):
        run(_config(pretraining_data, tmp_path / "b", model_config, train_files=str(tmp_path / "empty.tfrecord")))
    assert not os.path.exists(tmp_path / "b" / "checkpoints")


def test_sequence_length_mismatch_names_the_file(pretraining_data, tmp_path, model_config):
    with pytest.raises(InputError,
                       match=r"part-000.tfrecord: 'input_ids' has length 32 but --data.max_seq_length is 64"):
        run(_config(pretraining_data, tmp_path / "a", model_config, max_seq_length=64))


def test_corrupt_record_names_the_file(pretraining_data, tmp_path, model_config):
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(InputError, match="bad.tfrecord: corrupt TFRecord"):
        run(_config(pretraining_data, tmp_path / "a", model_config, train_files=str(bad)))


def test_batch_that_does_not_divide(pretraining_data, tmp_path, model_config):
    with pytest.raises(ValueError, match=r"--trainer.global_batch_size=10 does not equal workers \(1\) × "
                                         r"--data.train_batch_size \(4\) × --trainer.gradient_accumulation_steps "
                                         r"\(2\) = 8"):
        run(_config(pretraining_data, tmp_path / "a", model_config, global_batch_size=10,
                    gradient_accumulation_steps=2))


def test_vocab_larger_than_model(pretraining_data, tmp_path):
    from electra.configs import ModelConfig
    path = tmp_path / "small_vocab_model.json"
    ModelConfig.from_json_file(tiny_model_config(tmp_path / "m.json")).replace(vocab_size=50).to_json_file(path)
    with pytest.raises(ValueError, match="vocabulary has 100 tokens but the model's vocab_size is 50"):
        run(_config(pretraining_data, tmp_path / "a", str(path)))


@pytest.mark.slow
def test_resume_with_another_vocab_or_model(pretraining_data, tmp_path, model_config):
    run(_config(pretraining_data, tmp_path / "run", model_config, total_steps=2))
    other_vocab = tmp_path / "vocab2.txt"
    other_vocab.write_text(open(pretraining_data["vocab"]).read().replace("w94", "zz"))
    with pytest.raises(ConfigError, match="not the vocabulary this run's checkpoints were trained with"):
        run(_config(pretraining_data, tmp_path / "run", model_config, vocab_file=str(other_vocab)))
    from electra.configs import ModelConfig
    wider = tmp_path / "wider.json"
    ModelConfig.from_json_file(model_config).replace(intermediate_size=96).to_json_file(wider)
    with pytest.raises(ConfigError, match="intermediate_size: checkpoint 64 vs now 96"):
        run(_config(pretraining_data, tmp_path / "run", str(wider)))


@pytest.mark.slow
def test_phase2_from_a_checkpoint_of_another_size(pretraining_data, tmp_path, model_config):
    run(_config(pretraining_data, tmp_path / "phase1", model_config, total_steps=2))
    from electra.configs import ModelConfig
    deeper = tmp_path / "deeper.json"
    ModelConfig.from_json_file(model_config).replace(num_hidden_layers=3).to_json_file(deeper)
    with pytest.raises(WeightLoadError, match="missing .*electra/encoder/layer_2"):
        run(_config(pretraining_data, tmp_path / "phase2", str(deeper), init_checkpoint=str(tmp_path / "phase1")))
    with pytest.raises(WeightLoadError, match="nowhere: no such file or directory"):
        run(_config(pretraining_data, tmp_path / "phase2b", model_config, init_checkpoint=str(tmp_path / "nowhere")))


@pytest.mark.slow
def test_phase2_keeps_weights_and_restarts_schedule(pretraining_data, tmp_path, model_config):
    import numpy as np
    import tensorflow as tf
    from electra.interop.store import read_model_weights
    run(_config(pretraining_data, tmp_path / "phase1", model_config, total_steps=3))
    summary = run(_config(pretraining_data, tmp_path / "phase2", model_config, total_steps=2, warmup_steps=1,
                          init_checkpoint=str(tmp_path / "phase1"), steps_this_run=1))
    assert summary["step"] == 1
    log = read_log(str(tmp_path / "phase2"))
    assert log[0]["step"] == 1 and log[0]["learning_rate"] == 0.0  # schedule restarted at warmup
    phase1 = read_model_weights(tf.train.latest_checkpoint(str(tmp_path / "phase1" / "checkpoints")))
    phase2 = read_model_weights(tf.train.latest_checkpoint(str(tmp_path / "phase2" / "checkpoints")))
    name = "electra/encoder/layer_0/output/dense/kernel"
    np.testing.assert_array_equal(phase1[name], phase2[name])  # lr 0 at step 1: weights carried over unchanged


def _checkpoint_steps(output):
    return sorted(int(n[5:-6]) for n in os.listdir(os.path.join(output, "checkpoints"))
                  if n.startswith("ckpt-") and n.endswith(".index") and "nonfinite" not in n)


@pytest.mark.slow
def test_nan_loss_names_a_checkpoint_whose_next_step_is_finite(pretraining_data, tmp_path, model_config):
    """The weights saved after step N are what step N + 1 starts from: when step N + 1 is not finite, ckpt-N is
    poisoned. The run names the checkpoint before it, and a rerun with a sane learning rate continues from there."""
    output = str(tmp_path / "run")
    flags = pretrain_flags(pretraining_data, output, model_config, optimizer="adamw", learning_rate=1e9,
                           warmup_steps=8, grad_clip_norm=0, save_checkpoints_steps=1, total_steps=30, log_freq=1)
    result = run_script(flags, check=False)
    assert result.returncode == 1
    assert "non-finite loss" in result.stderr and "The last good checkpoint is" in result.stderr
    steps = [r["step"] for r in read_log(output) if "loss" in r]
    bad_step = max(steps) + 1
    assert bad_step >= 3, result.stderr[-2000:]        # at least one good checkpoint exists before the poisoned one
    assert f"ckpt-{bad_step - 1} hold(s) weights that give it" in result.stderr
    events = [r for r in read_log(output) if r.get("event") == "non_finite_loss"]
    assert events and events[0]["first_nonfinite_step"] == bad_step
    assert os.path.exists(os.path.join(output, "checkpoints", f"ckpt-{bad_step - 1}-nonfinite.index"))
    assert _checkpoint_steps(output) == list(range(1, bad_step - 1))   # the NaN step saved nothing
    assert f"The last good checkpoint is {output}/checkpoints/ckpt-{bad_step - 2}." in result.stderr
    changed = ("--optimizer.learning_rate", "--trainer.total_steps", "--optimizer.warmup_steps")
    retry = run_script([f for f in flags if not f.startswith(changed)]
                       + ["--learning_rate=1e-3", "--num_warmup_steps=0", f"--num_train_steps={bad_step + 1}"],
                       check=False)
    assert retry.returncode == 0, retry.stderr[-3000:]
    log = read_log(output)
    assert [r["step"] for r in log if "loss" in r][-3:] == [bad_step - 1, bad_step, bad_step + 1]
    assert all(math.isfinite(r["loss"]) for r in log if "loss" in r)


@pytest.mark.slow
def test_partial_log_line_and_save_leftovers_do_not_block_a_resume(pretraining_data, tmp_path, model_config):
    output = tmp_path / "run"
    run(_config(pretraining_data, output, model_config, steps_this_run=2))
    with open(output / "train_log.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 3, "loss": 1.2')            # a kill or a full disk during an append
    leftovers = [output / "checkpoints" / "ckpt-4_temp", output / "checkpoints" / "input" / "rank0" / "ckpt-4_temp"]
    for leftover in leftovers:
        leftover.mkdir()
        (leftover / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"partial")
    summary = run(_config(pretraining_data, output, model_config))
    assert summary["step"] == 4
    assert [r["step"] for r in read_log(str(output)) if "loss" in r] == [1, 2, 3, 4]
    assert not any(p.exists() for p in leftovers)


@pytest.mark.slow
def test_truncated_checkpoint_falls_back_to_the_newest_intact_one(pretraining_data, tmp_path, model_config):
    output = tmp_path / "run"
    run(_config(pretraining_data, output, model_config, steps_this_run=4, total_steps=6))   # ckpt-2, ckpt-4
    data = next((output / "checkpoints").glob("ckpt-4.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])   # cut short by a full disk
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in (output / "checkpoints").glob("ckpt-4.*"):
        shutil.copy(file, broken / file.name)
    summary = run(_config(pretraining_data, output, model_config, total_steps=6))
    assert summary["step"] == 6
    events = [r for r in read_log(str(output)) if r.get("event") == "checkpoint_unreadable"]
    assert len(events) == 1 and events[0]["step"] == 2
    assert "ckpt-4 cannot be read" in events[0]["message"] and "resumed from" in events[0]["message"]
    from electra.training.checkpointing import CheckpointReadError
    with pytest.raises(CheckpointReadError, match=r"checkpoint .*broken/ckpt-4 cannot be read"):
        run(_config(pretraining_data, tmp_path / "other", model_config, restore=str(broken / "ckpt-4")))


def test_flag_validation_names_the_flag():
    with pytest.raises(ConfigError, match="trainer.precision='fp8'"):
        build(PretrainConfig, output_dir="x", precision="fp8")
    with pytest.raises(ConfigError, match="--optimizer.warmup_steps=10 must be <= --trainer.total_steps=5"):
        build(PretrainConfig, output_dir="x", warmup_steps=10, total_steps=5)
    with pytest.raises(ConfigError, match="--output_dir='' is required"):
        build(PretrainConfig)


@pytest.mark.slow
def test_validation_records_other_length(pretraining_data, tmp_path, model_config):
    write_records(tmp_path / "v", files=1, seq=16)
    with pytest.raises(InputError, match="'input_ids' has length 16 but --data.max_seq_length is 32"):
        run(_config(pretraining_data, tmp_path / "a", model_config, validation_files=str(tmp_path / "v" / "*"),
                    eval_every=2))


def _write(path, rows, seq=32):
    import numpy as np
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ids in rows:
            ids = np.asarray(ids + [0] * (seq - len(ids)), np.int64)
            mask = (ids > 0).astype(np.int64)
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v.tolist()))
                       for k, v in (("input_ids", ids), ("input_mask", mask), ("segment_ids", 0 * mask))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


@pytest.mark.slow
def test_token_id_outside_the_vocabulary_names_the_file(pretraining_data, tmp_path, model_config):
    """The vocabulary has 100 entries; the 7th record holds id 150 (records made with another vocabulary)."""
    bad = tmp_path / "data" / "bad.tfrecord"
    bad.parent.mkdir()
    rows = [[2, 10 + i, 11, 3] for i in range(12)]
    rows[6][1] = 150
    _write(bad, rows)
    with pytest.raises(InputError, match=r"token id 150 .* in .*bad\.tfrecord is outside the vocabulary \[0, 100\)"):
        run(_config(pretraining_data, tmp_path / "a", model_config, train_files=str(bad), shuffle_buffer=1,
                    train_batch_size=2, total_steps=8))
    assert not os.path.exists(tmp_path / "a" / "checkpoints" / "ckpt-8.index")


@pytest.mark.slow
def test_resume_without_this_ranks_input_state_starts_input_afresh(pretraining_data, tmp_path, model_config):
    output = tmp_path / "a"
    run(_config(pretraining_data, output, model_config, steps_this_run=2))
    shutil.rmtree(output / "checkpoints" / "input")           # e.g. written by a version with another pipeline
    summary = run(_config(pretraining_data, output, model_config))
    assert summary["step"] == 4
    events = [r for r in read_log(str(output)) if r.get("event")]
    assert [(e["event"], e["step"]) for e in events] == [("input_position_reset", 2)]
    assert "no input-pipeline state for rank 0 at step 2" in events[0]["message"]
    assert [r["step"] for r in read_log(str(output)) if "loss" in r] == [1, 2, 3, 4]
