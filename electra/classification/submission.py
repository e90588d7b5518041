"""GLUE test-set submission files: the ``<Title>.tsv`` files (``CoLA.tsv`` … ``MNLI-m.tsv``, ``MNLI-mm.tsv``,
``AX.tsv``) that gluebenchmark.com takes zipped together, each ``index\\tprediction`` with one row per test example
in the test file's order."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from electra.classification.data import glue_task
from electra.io import atomic_write


def write_glue_submission(directory: str, task: str, predictions: Sequence, guids: Sequence[str]) -> str:
    """Write ``<directory>/<Title>.tsv`` for GLUE task ``task`` and return its path.

    ``predictions``: one per test example, a class index into the task's labels (the argmax of the logits) or the
    label name itself; for STS-B a score, clipped to [0, 5] and written with 3 decimals. ``guids``: the test
    file's index/id column (``Example.guid`` of ``read_glue`` on the test file), in the same order. Classes are
    written as GLUE's label names: ``entailment`` / ``not_entailment`` / ``contradiction`` / ``neutral`` for
    MNLI, QNLI, RTE and AX, ``0`` / ``1`` for the others."""
    spec = glue_task(task)
    guids = [str(g) for g in guids]
    predictions = [p.item() if isinstance(p, np.generic) else p for p in predictions]
    if len(predictions) != len(guids):
        raise ValueError(f"{len(predictions)} predictions for {len(guids)} test examples of GLUE {spec.title}")
    rows = [f"{guid}\t{_prediction(spec, value, guid)}\n" for guid, value in zip(guids, predictions)]
    path = os.path.join(os.fspath(directory), f"{spec.title}.tsv")
    with atomic_write(path) as f:
        f.write("index\tprediction\n")
        f.writelines(rows)
    return path


def _prediction(spec, value, guid: str) -> str:
    if spec.regression:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"GLUE {spec.title} example {guid}: prediction {value!r} is not a finite score")
        low, high = spec.score_range
        return f"{min(max(float(value), low), high):.3f}"
    if isinstance(value, str):
        if value not in spec.labels:
            raise ValueError(f"GLUE {spec.title} example {guid}: {value!r} is not one of the labels "
                             f"{list(spec.labels)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(spec.labels):
        raise ValueError(f"GLUE {spec.title} example {guid}: prediction {value!r} is not a class index in "
                         f"[0, {len(spec.labels)})")
    return spec.labels[value]
