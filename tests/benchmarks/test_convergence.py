"""benchmarks/convergence*.py: the numpy metrics, the torch-free schedule helper, and the exit when the PyTorch
reference cannot be imported. Fast: no torch, no training."""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import convergence_metrics as bc
from benchmarks.convergence_reference import check_schedules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "convergence.py")


def brute_force_auc(scores, labels) -> float:
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


def test_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(2, 60))
        scores = rng.integers(-3, 4, n).astype(np.float64) / 2     # few distinct values: many ties
        if trial % 2:
            scores = rng.standard_normal(n)
        labels = rng.random(n) < 0.3
        labels[0], labels[1] = True, False
        assert bc.roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)
    assert bc.roc_auc([0.0, 0.0, 0.0], [1, 0, 1]) == 0.5                # all tied
    assert bc.roc_auc([3.0, 1.0, 2.0], [1, 0, 0]) == 1.0
    assert np.isnan(bc.roc_auc([1.0, 2.0], [0, 0]))                       # one class only


def test_metrics_on_a_hand_case():
    # Discriminator: 2 sequences of 4 tokens, the last token of the second is padding (and must not count).
    disc_logits = np.array([[2.0, -1.0, 0.5, -3.0], [-0.5, 1.0, -2.0, 9.0]])
    rtd_labels = np.array([[1, 0, 0, 0], [1, 1, 0, 0]], np.float32)
    input_mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    # Generator: one masked position per sequence (+ one padding slot, weight 0), vocabulary 3.
    gen_logits = np.log(np.array([[[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]],
                                  [[0.1, 0.6, 0.3], [0.9, 0.05, 0.05]]]))
    mlm_ids = np.array([[0, 0], [2, 0]])
    mlm_weights = np.array([[1.0, 0.0], [1.0, 0.0]])
    m = bc.rtd_eval_metrics(gen_logits, mlm_ids, mlm_weights, disc_logits, rtd_labels, input_mask)
    # predicted replaced (logit > 0) among the 7 real tokens: (0,0) TP, (0,2) FP, (1,1) TP; (1,0) FN.
    assert m["disc_precision"] == pytest.approx(2 / 3)
    assert m["disc_recall"] == pytest.approx(2 / 3)
    assert m["disc_accuracy"] == pytest.approx(5 / 7)
    assert m["baseline_accuracy"] == pytest.approx(4 / 7)
    assert m["tokens"] == 7 and m["masked_positions"] == 2
    assert m["gen_accuracy"] == pytest.approx(0.5)                 # argmax 0 right, argmax 1 (vs 2) wrong
    assert m["mlm_loss"] == pytest.approx(-(np.log(0.7) + np.log(0.3)) / 2)
    x, y = disc_logits.ravel()[:7], rtd_labels.ravel()[:7]
    expected = np.mean([np.log1p(np.exp(-v)) if t else np.log1p(np.exp(v)) for v, t in zip(x, y)])
    assert m["disc_loss"] == pytest.approx(expected)
    assert m["disc_auc"] == pytest.approx(brute_force_auc(x, y))


def test_no_predicted_positive_gives_zero_precision():
    m = bc.rtd_eval_metrics(np.zeros((1, 1, 2)), np.zeros((1, 1), int), np.ones((1, 1)),
                            -np.ones((1, 3)), np.array([[0, 1, 0]]), np.ones((1, 3)))
    assert m["disc_precision"] == 0.0 and m["disc_recall"] == 0.0 and m["disc_accuracy"] == pytest.approx(2 / 3)


def test_scatter_leaves_padding_slots_alone():
    ids = np.array([[2, 10, 11, 12, 3]])
    out = bc.scatter_positions(ids, np.array([[1, 3, 0]]), np.array([[7, 8, 9]]), np.array([[1.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(out, [[2, 7, 11, 8, 3]])


@pytest.mark.parametrize("total,warmup,power,end", [(100, 10, 1.0, 0.0), (37, 0, 0.5, 1e-5), (50, 50, 2.0, 0.0),
                                                    (400, 40, 0.5, 0.0)])
def test_schedule_helper_equals_warmup_poly_decay(total, warmup, power, end):
    import tensorflow as tf
    from electra.training.optimization import WarmupPolyDecay
    peak = 1e-3
    ours = WarmupPolyDecay(peak, total, warmup, power, end)(tf.range(total + 5)).numpy()
    helper = [bc.warmup_poly_decay(s, peak, total, warmup, power, end) for s in range(total + 5)]
    np.testing.assert_allclose(helper, ours, rtol=1e-5, atol=1e-10)


def test_check_schedules_against_the_config():
    from electra.cli import build
    from electra.configs import PretrainConfig
    config = build(PretrainConfig, {"optimizer.name": "adamw", "optimizer.learning_rate": 1e-3,
                                    "optimizer.warmup_steps": 7, "optimizer.poly_power": 1.0}, output_dir="unused")
    out = check_schedules(config, 60)
    assert out["steps_checked"] == 61 and out["warmup_steps"] == 7


def test_compare_and_calibration():
    verdict = bc.compare([1.0, 2.0, 3.0], [1.5, 2.5, 4.0])
    assert verdict["within_reference_range"] and verdict["within_reference_2std"]
    assert not bc.compare([10.0, 10.0, 10.0], [1.5, 2.5, 4.0])["within_reference_range"]
    welch = bc.compare([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert welch["welch_t"] == pytest.approx(-1 / np.sqrt(2 / 3)) and welch["welch_dof"] == pytest.approx(4.0)
    assert not welch["welch_significant_95"] and welch["spread_ratio"] == pytest.approx(1.0)
    assert bc.compare([10.0, 10.1, 9.9], [1.0, 1.1, 0.9])["welch_significant_95"]
    calibration = bc.null_calibration(3, 3, trials=20_000)
    assert 0.5 < calibration["shift_0_sigma"]["p_within_range"] < 0.95
    assert calibration["shift_4_sigma"]["p_within_range"] < calibration["shift_0_sigma"]["p_within_range"]
    assert calibration["shift_0_sigma"]["p_welch_significant_95"] < 0.1


def test_log_windows_follow_the_training_loop():
    assert bc.log_windows([1.0, 2.0, 3.0, 4.0, 5.0], 2) == [{"step": 2, "loss": 1.5}, {"step": 4, "loss": 3.5},
                                                            {"step": 5, "loss": 5.0}]


def test_missing_torch_exits_3_with_a_message(tmp_path):
    """torch made unimportable (a None entry in sys.modules is what Python's import system treats as 'not
    importable'): the script must say the reference cannot run and exit 3 before any training or output."""
    out = tmp_path / "out.json"
    code = ("import runpy, sys; sys.modules['torch'] = None; "
            f"sys.argv = [{SCRIPT!r}, '--steps=2', '--output_json={out}', '--output_png={tmp_path / 'out.png'}']; "
            f"runpy.run_path({SCRIPT!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "reference cannot run" in result.stderr and "--ours_only" in result.stderr
    assert "torch" in result.stderr
    assert not out.exists()
