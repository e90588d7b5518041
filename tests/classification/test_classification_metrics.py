"""electra.classification.metrics against scikit-learn/scipy values stored in tests/fixtures/metrics/ (computed on
real GLUE labels by make_metric_fixtures.py), plus cases small enough to check by hand."""
import json
import math
import pathlib

import numpy as np
import pytest

from electra.classification.metrics import (METRICS, TASK_METRICS, accuracy, classification_scores, f1, glue_scores,
                                            macro_f1, mcc, pearson, rank_average, regression_scores, spearman)

FIXTURE = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "metrics" / "classification.json")
                     .read_text(encoding="utf-8"))
TOL = 1e-12


def close(ours, reference):
    """``reference`` None is scipy's nan (JSON has no nan)."""
    if reference is None:
        return math.isnan(ours)
    return abs(ours - reference) <= TOL


def by_name(cases):
    return pytest.mark.parametrize("case", cases, ids=[c["name"] for c in cases])


@by_name(FIXTURE["classification"])
def test_classification_metrics_equal_sklearn(case):
    labels, predictions = case["labels"], case["predictions"]
    for name, reference in case["expected"].items():
        ours = METRICS[name](labels, predictions)
        assert isinstance(ours, float)
        assert close(ours, reference), (name, ours, reference)


@by_name(FIXTURE["regression"])
def test_regression_metrics_equal_scipy(case):
    labels, predictions = case["labels"], case["predictions"]
    ours = regression_scores(labels, predictions)
    assert set(ours) == set(case["expected"])
    for name, reference in case["expected"].items():
        assert close(ours[name], reference), (name, ours[name], reference)


@by_name(FIXTURE["classification"] + FIXTURE["regression"])
def test_glue_scores_equal_reference(case):
    for task, expected in case["glue"].items():
        ours = glue_scores(task, case["labels"], case["predictions"])
        assert set(ours) == set(expected), task
        for name, reference in expected.items():
            assert close(ours[name], reference), (task, name, ours[name], reference)


def test_fixture_covers_every_glue_task_and_metric():
    covered = {task for case in FIXTURE["classification"] + FIXTURE["regression"] for task in case["glue"]}
    assert covered == set(TASK_METRICS)
    checked = {name for case in FIXTURE["classification"] + FIXTURE["regression"] for name in case["expected"]}
    assert checked == set(METRICS)


def test_glue_table():
    assert TASK_METRICS["cola"] == ("mcc",)
    assert TASK_METRICS["sts-b"] == ("pearson", "spearman")
    assert TASK_METRICS["mrpc"] == TASK_METRICS["qqp"] == ("accuracy", "f1")
    assert TASK_METRICS["ax"] == ("mcc",)   # GLUE scores its diagnostic set with R3 (3-class Matthews)
    assert glue_scores("MRPC", [1, 1, 0, 0], [1, 0, 0, 0]) == {"accuracy": 0.75, "f1": 2 / 3,
                                                             "score": (0.75 + 2 / 3) / 2}
    with pytest.raises(ValueError, match="unknown GLUE task 'squad'"):
        glue_scores("squad", [0], [0])


def test_by_hand():
    # tp 1, fn 1, tn 2, fp 0
    assert accuracy([1, 1, 0, 0], [1, 0, 0, 0]) == 0.75
    assert f1([1, 1, 0, 0], [1, 0, 0, 0]) == 2 / 3
    assert f1([1, 1, 0, 0], [1, 0, 0, 0], positive=0) == 0.8
    assert mcc([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(2 / math.sqrt(12), abs=TOL)
    assert macro_f1([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx((2 / 3 + 0.8) / 2, abs=TOL)
    assert mcc([0, 1, 2], [0, 1, 2]) == 1.0
    assert mcc([1, 1, 1], [0, 1, 2]) == 0.0          # one true class: undefined, 0 as sklearn
    assert f1([0, 0], [0, 0]) == 0.0                   # no positive anywhere: 0 (zero_division=0)
    # ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: r = 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
    assert rank_average([1, 2, 2, 3]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rank_average([3.0, 1.0, 3.0, 3.0]).tolist() == [3.0, 1.0, 3.0, 3.0]
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(math.sqrt(0.9), abs=TOL)
    assert pearson([1, 2, 3], [2, 4, 6.5]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1], abs=TOL)


def test_undefined_correlations_are_nan():
    assert math.isnan(pearson([1, 2, 3], [5, 5, 5]))
    assert math.isnan(spearman([5, 5, 5], [1, 2, 3]))
    assert math.isnan(spearman([1.0, float("nan"), 3.0], [1, 2, 3]))
    assert math.isnan(spearman([1.0], [2.0]))
    with pytest.raises(ValueError, match="at least 2"):
        pearson([1.0], [2.0])


def test_own_data_scores():
    scores = classification_scores(np.array([0, 1, 1, 0], np.int32), [0, 1, 0, 0], num_labels=2)
    assert set(scores) == {"accuracy", "macro_f1", "mcc", "f1"}
    three = classification_scores([0, 1, 2, 2], [0, 2, 2, 2], num_labels=3)
    assert set(three) == {"accuracy", "macro_f1", "mcc"} and three["accuracy"] == 0.75
    with pytest.raises(ValueError, match=r"predictions\[1\] = 3 is not a class index in \[0, 3\)"):
        classification_scores([0, 1], [0, 3], num_labels=3)
    with pytest.raises(ValueError, match="must be class indices"):
        classification_scores([0.0, 1.0], [0, 1], num_labels=2)
    assert regression_scores([1.0, 2.0, 4.0], [1.0, 2.0, 3.0])["mse"] == pytest.approx(1 / 3, abs=TOL)


@pytest.mark.parametrize("labels,predictions,message", [
    ([0, 1], [0], "differ in length: 2 != 1"),
    ([], [], "no examples"),
    ([[0, 1]], [[0, 1]], "1-D"),
])
def test_bad_input(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        accuracy(labels, predictions)
