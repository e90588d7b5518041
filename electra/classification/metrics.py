"""Sentence classification and regression metrics, equal to scikit-learn's and scipy's, in plain numpy.

The package must not need scikit-learn or scipy at run time, yet the numbers it reports have to be the ones a user
gets from the usual references (and from GLUE's own scoring), so each function states the reference it reproduces;
``tests/classification/test_metrics.py`` checks them against values those libraries computed on real GLUE labels
(``tests/fixtures/metrics/``).

Inputs are 1-D sequences of equal, non-zero length ``[N]``: class indices (ints) for the classification metrics,
floats for the correlations and MSE. Each metric returns a Python ``float``; ``METRICS`` maps the names used in
``TASK_METRICS`` (and ``GlueTask.metrics``) to them.

Undefined cases follow the references rather than raising:

* ``f1`` / ``macro_f1``: a class with no true and no predicted example scores 0 (scikit-learn's ``zero_division=0``).
* ``mcc``: 0 when every true or every predicted label is the same class (scikit-learn returns 0 there, not nan).
* ``pearson`` / ``spearman``: nan when either input is constant or holds a nan (scipy's result; it also warns, we do
  not). ``pearson`` of fewer than 2 pairs raises ``ValueError`` as ``scipy.stats.pearsonr`` does; ``spearman`` of
  fewer than 2 pairs is nan as ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from electra.classification.data import GLUE_TASKS


def _pair(y_true, y_pred, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(y_true, dtype=dtype), np.asarray(y_pred, dtype=dtype)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"expected two 1-D sequences, got shapes {a.shape} and {b.shape}")
    if len(a) != len(b):
        raise ValueError(f"labels and predictions differ in length: {len(a)} != {len(b)}")
    if len(a) == 0:
        raise ValueError("no examples to score")
    return a, b


def accuracy(y_true, y_pred) -> float:
    """Fraction of exact matches (``sklearn.metrics.accuracy_score``)."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(a == b))


def _f1_of(tp: int, n_true: int, n_pred: int) -> float:
    # scikit-learn's F = 2·tp / (|true| + |pred|), 0 when the class is neither true nor predicted anywhere
    return 2.0 * tp / (n_true + n_pred) if n_true + n_pred else 0.0


def f1(y_true, y_pred, positive=1) -> float:
    """F1 of the class ``positive`` (``sklearn.metrics.f1_score(average="binary", pos_label=positive,
    zero_division=0)``): MRPC's and QQP's F1 with "paraphrase"/"duplicate" = 1."""
    a, b = _pair(y_true, y_pred)
    t, p = a == positive, b == positive
    return _f1_of(int(np.sum(t & p)), int(np.sum(t)), int(np.sum(p)))


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean of the per-class F1 over the classes present in labels or predictions
    (``sklearn.metrics.f1_score(average="macro", zero_division=0)``; classes absent from both are not averaged)."""
    a, b = _pair(y_true, y_pred)
    classes = np.union1d(a, b)
    return float(np.mean([_f1_of(int(np.sum((a == c) & (b == c))), int(np.sum(a == c)), int(np.sum(b == c)))
                          for c in classes]))


def mcc(y_true, y_pred) -> float:
    """Matthews correlation, multi-class (Gorodkin's R_K, GLUE's "R3" for 3 classes), as
    ``sklearn.metrics.matthews_corrcoef``: from the confusion matrix C with row sums t, column sums p, trace c and
    n examples, (c·n − t·p) / √((n² − p·p)(n² − t·t)); 0 when the denominator is 0."""
    a, b = _pair(y_true, y_pred)
    classes, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    k = len(classes)
    confusion = np.bincount(codes[: len(a)] * k + codes[len(a):], minlength=k * k).reshape(k, k)
    t_sum = confusion.sum(axis=1, dtype=np.float64)
    p_sum = confusion.sum(axis=0, dtype=np.float64)
    n_correct = np.trace(confusion, dtype=np.float64)
    n = p_sum.sum()
    cov_tp = n_correct * n - np.dot(t_sum, p_sum)
    denominator = (n * n - np.dot(p_sum, p_sum)) * (n * n - np.dot(t_sum, t_sum))
    return 0.0 if denominator == 0 else float(cov_tp / np.sqrt(denominator))


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if np.isnan(x).any() or np.isnan(y).any() or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    xm, ym = x - x.mean(), y - y.mean()
    r = float(np.dot(xm / np.linalg.norm(xm), ym / np.linalg.norm(ym)))
    return min(1.0, max(-1.0, r))


def pearson(x, y) -> float:
    """Pearson's r (``scipy.stats.pearsonr(x, y).statistic``); nan for a constant input, ValueError below 2 pairs,
    exactly ±1 for 2 pairs (scipy rounds that case)."""
    a, b = _pair(x, y, np.float64)
    if len(a) < 2:
        raise ValueError("pearson needs at least 2 pairs")
    r = _correlation(a, b)
    return float(round(r)) if len(a) == 2 and not np.isnan(r) else r


def rank_average(x) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (``scipy.stats.rankdata(method="average")``).
    [N] → float64 [N]."""
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    # group boundaries in sorted order: each run of equal values spans ranks start+1 .. end
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's r of the average ranks (``scipy.stats.spearmanr(x, y).statistic``); nan for a
    constant input, a nan in the input, or fewer than 2 pairs."""
    a, b = _pair(x, y, np.float64)
    if len(a) < 2 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return _correlation(rank_average(a), rank_average(b))


def mse(y_true, y_pred) -> float:
    """Mean squared error (``sklearn.metrics.mean_squared_error``): the regression loss's own scale."""
    a, b = _pair(y_true, y_pred, np.float64)
    return float(np.mean((a - b) ** 2))


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "mcc": mcc,
    "pearson": pearson,
    "spearman": spearman,
    "mse": mse,
}

# GLUE's official metric(s) of each task (the GLUE paper, Wang et al. 2018, table 1 and section 4); the task's
# "score" on the leaderboard is their mean. The diagnostic set "ax" is scored with R3, the 3-class Matthews
# correlation, as GLUE does (not with accuracy). Labels for mrpc/qqp: 1 = paraphrase/duplicate, GLUE's positive class.
TASK_METRICS: dict[str, tuple[str, ...]] = {name: task.metrics for name, task in GLUE_TASKS.items()}


def glue_scores(task_name: str, labels, predictions) -> dict[str, float]:
    """Each GLUE metric of ``task_name`` plus ``"score"``, their mean (GLUE's number for the task).

    ``labels`` / ``predictions``: [N] class indices (the task's label order, GlueTask.labels) or, for sts-b, floats.
    """
    key = task_name.lower()
    if key not in TASK_METRICS:
        raise ValueError(f"unknown GLUE task {task_name!r}; known: {sorted(TASK_METRICS)}")
    scores = {name: METRICS[name](labels, predictions) for name in TASK_METRICS[key]}
    scores["score"] = float(np.mean(list(scores.values())))
    return scores


def _check_indices(values: np.ndarray, num_labels: int, what: str) -> None:
    if values.dtype.kind not in "iu":
        raise ValueError(f"{what} must be class indices (integers), got dtype {values.dtype}")
    bad = (values < 0) | (values >= num_labels)
    if bad.any():
        raise ValueError(f"{what}[{int(np.argmax(bad))}] = {values[bad][0]} is not a class index in [0, {num_labels})")


def classification_scores(labels: Sequence[int], predictions: Sequence[int], num_labels: int) -> dict[str, float]:
    """Scores for the user's own classification data: accuracy, macro_f1 and mcc, plus f1 of class 1 when
    ``num_labels == 2`` (class 1 = the second name of the sorted label set, e.g. "1" or "positive").
    [N] int class indices in [0, num_labels)."""
    a, b = _pair(labels, predictions)
    _check_indices(a, num_labels, "labels")
    _check_indices(b, num_labels, "predictions")
    scores = {"accuracy": accuracy(a, b), "macro_f1": macro_f1(a, b), "mcc": mcc(a, b)}
    if num_labels == 2:
        scores["f1"] = f1(a, b)
    return scores


def regression_scores(labels: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    """Scores for a real-valued target: pearson, spearman and mse. [N] floats."""
    return {"pearson": pearson(labels, predictions), "spearman": spearman(labels, predictions),
            "mse": mse(labels, predictions)}
