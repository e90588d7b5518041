"""Google's original TF1 ELECTRA checkpoints (google-research/electra) in.

Our weight names *are* Google's, so the table is the identity; what this module adds is reading the TF1
checkpoint format and skipping the optimizer state (Adam slots, ``global_step``) that training checkpoints carry.
"""
from __future__ import annotations

import os
import re

import tensorflow as tf

from electra.interop.weights import LoadReport, WeightLoadError, assign

OPTIMIZER_STATE = re.compile(r"(/adam_[mv]|/Adam(_1)?|/Momentum|/ExponentialMovingAverage)$|^global_step$|"
                             r"(^|/)(beta[12]_power|loss_scale\w*|good_steps|current_loss_scale)$")


def checkpoint_prefix(path: str) -> str:
    """A checkpoint prefix from a directory (its ``checkpoint`` file) or a prefix / ``.index`` path."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise WeightLoadError(f"{path}: no TF checkpoint in this directory (no 'checkpoint' file)")
        return latest
    if path.endswith(".index"):
        path = path[: -len(".index")]
    if not tf.io.gfile.exists(path + ".index"):
        raise WeightLoadError(f"{path}: no TF checkpoint here ({path}.index does not exist)")
    return path


def read_google_checkpoint(path: str) -> tuple[dict, list[str]]:
    """``({name: array}, skipped optimizer-state names)`` of a TF1 checkpoint."""
    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise WeightLoadError(f"{prefix}: unreadable TF checkpoint ({e})") from e
    tensors, skipped = {}, []
    for name in reader.get_variable_to_shape_map():
        if OPTIMIZER_STATE.search(name) or name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH"):
            skipped.append(name)
        else:
            tensors[name] = reader.get_tensor(name)
    return tensors, skipped


def load_google_checkpoint(model, path: str) -> LoadReport:
    """Load a google-research/electra pretraining (or fine-tuning) checkpoint into any of our models."""
    tensors, skipped = read_google_checkpoint(path)
    return assign(model, tensors, checkpoint_prefix(path), ignorable=skipped)
