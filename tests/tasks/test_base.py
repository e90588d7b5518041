"""``electra.tasks.base.Task``: the hooks a task must write, the loop running a task that writes only those, and
``summary.json``'s throughput as the mean over the invocation's training time."""
import json
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.cli import build
from electra.configs import PretrainConfig
from electra.tasks.base import Task
from electra.training.experiment import run_task
from tests.training.conftest import read_log

BATCH = 4


class Linear(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.dense.build((None, 3))

    def call(self, batch, training=False):
        return {"logits": self.dense(batch["x"])[:, 0]}                                  # [batch]

    def named_variables(self):
        return {"dense/kernel": self.dense.kernel, "dense/bias": self.dense.bias}


class Regression(Task):
    """Only what a task must write, plus a slow evaluation (its time is not training time)."""
    name = "regression"
    metric_names = ("abs_error",)
    eval_seconds = 0.0

    def prepare(self, distributor):
        self.prepared = True

    def run_record(self):
        return {}

    def build_model(self, seed):
        return Linear()

    def train_dataset(self, rank, world_size, seed):
        x = np.random.default_rng(seed).normal(size=(64, 3)).astype(np.float32)
        data = {"x": x, "y": x @ np.array([1.0, -2.0, 0.5], np.float32)}
        return tf.data.Dataset.from_tensor_slices(data).repeat().batch(self.train_batch_size, drop_remainder=True)

    def loss(self, model, batch):
        error = model(batch, training=True)["logits"] - batch["y"]
        return tf.reduce_mean(tf.square(error)), {"abs_error": tf.reduce_mean(tf.abs(error))}

    def evaluate(self, model, step):
        time.sleep(self.eval_seconds)
        return {}


def _config(output, **values):
    settings = dict(output_dir=str(output), train_batch_size=BATCH, total_steps=6, warmup_steps=0, log_every=2,
                    checkpoint_every=3, eval_every=2, xla=False, optimizer="adamw", learning_rate=1e-2)
    return build(PretrainConfig, {**settings, **values})


def test_a_task_must_write_the_four_hooks_the_loop_cannot_default():
    class Partial(Task):
        name = "partial"

        def prepare(self, distributor):
            pass

        def build_model(self, seed):
            return Linear()

    with pytest.raises(TypeError, match=r"abstract methods '?loss'?, '?train_dataset"):
        Partial(_config("x"))


def test_the_loop_runs_a_task_with_the_defaults_and_summarizes_its_mean_throughput(tmp_path):
    """``summary.json``'s ``sequences_per_second``: this invocation's sequences over its training time, which
    leaves out evaluation (here 0.25 s at steps 2 and 4) and checkpoint saves."""
    output = tmp_path / "run"
    task = Regression(_config(output, steps_this_run=4))
    task.eval_seconds = 0.25
    assert (task.trains, task.corruption, task.steps_per_epoch, task.source) == (True, (), 0, None)
    first = run_task(task, task.config)                         # default finish: the loop's summary
    assert task.prepared and first["task"] == "regression" and first["initialized_from"] is None
    assert (first["step"], first["steps_this_run"], first["global_batch_size"]) == (4, 4, BATCH)
    assert first["training_seconds"] <= first["seconds"] - 0.5
    assert first["sequences_per_second"] == pytest.approx(4 * BATCH / first["training_seconds"])
    assert json.loads((output / "summary.json").read_text())["sequences_per_second"] == first["sequences_per_second"]
    assert task.explain_data_loss(tf.errors.DataLossError(None, None, "bad record")) is None

    task = Regression(_config(output, steps_this_run=4))         # resumes at 4 (the last checkpoint) to the end
    resumed = run_task(task, task.config)
    assert (resumed["step"], resumed["steps_this_run"]) == (6, 2)
    assert resumed["sequences_per_second"] == pytest.approx(2 * BATCH / resumed["training_seconds"])
    records = [r for r in read_log(str(output)) if r["type"] == "train"]
    assert [r["step"] for r in records] == [2, 4, 6] and all(r["abs_error"] > 0 for r in records)
