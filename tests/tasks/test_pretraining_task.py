"""The pretraining objective (replaced-token detection) computed by the task from the model's outputs."""
import numpy as np
import pytest
import tensorflow as tf

from electra.tasks.pretraining import masked_lm_loss, rtd_loss, rtd_metrics, sparse_cross_entropy


def _sigmoid_ce(logit, label):
    return max(logit, 0) - logit * label + np.log1p(np.exp(-abs(logit)))


def test_rtd_loss_by_hand():
    logits = tf.constant([[2.0, -1.0, 0.5, 3.0]])
    labels = tf.constant([[1.0, 0.0, 1.0, 0.0]])
    mask = tf.constant([[1, 1, 1, 0]])
    expected = (_sigmoid_ce(2.0, 1) + _sigmoid_ce(-1.0, 0) + _sigmoid_ce(0.5, 1)) / 3
    np.testing.assert_allclose(rtd_loss(logits, labels, mask).numpy(), expected, rtol=1e-6)
    metrics = {k: v.numpy() for k, v in rtd_metrics(logits, labels, mask).items()}
    # predicted replaced: positions 0 and 2 (position 3 is padding) → all correct
    assert metrics == pytest.approx({"disc_accuracy": 1.0, "disc_precision": 1.0, "disc_recall": 1.0}, abs=1e-5)
    metrics = {k: v.numpy() for k, v in rtd_metrics(tf.constant([[2.0, 1.0, -0.5, 3.0]]), labels, mask).items()}
    assert metrics == pytest.approx({"disc_accuracy": 1 / 3, "disc_precision": 0.5, "disc_recall": 0.5}, abs=1e-5)


def test_masked_lm_loss_by_hand():
    logits = tf.math.log(tf.constant([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))
    loss = masked_lm_loss(logits, tf.constant([[0, 1]]), tf.constant([[1.0, 0.0]]))
    np.testing.assert_allclose(loss.numpy(), -np.log(0.5), rtol=1e-5)


def test_sparse_cross_entropy_equals_tensorflow_in_value_and_gradient():
    """The written-out gradient against TensorFlow's fused kernel, with large logits (the max shift matters) and
    a label repeated across rows; an out-of-range label raises as there."""
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(9, 513)) * 30, tf.float32)
    labels = tf.constant([0, 512, 7, 7, 100, 3, 0, 511, 250], tf.int32)
    upstream = tf.constant(rng.normal(size=9), tf.float32)
    results = []
    for fn in (sparse_cross_entropy, lambda y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(y, x)):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = fn(labels, logits)
        results.append((loss.numpy(), tape.gradient(loss, logits, upstream).numpy()))
    (loss, grad), (ref_loss, ref_grad) = results
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError):
        sparse_cross_entropy(tf.constant([513]), logits[:1])




def _pairwise_auc(scores, labels):
    """Brute force: over every (positive, negative) pair, 1 when the positive scores higher, 1/2 on a tie."""
    positives = [s for s, y in zip(scores, labels) if y == 1]
    negatives = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_equals_the_pairwise_count(seed):
    from electra.tasks.pretraining import roc_auc
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    labels = (rng.random(n) < 0.15).astype(np.float32)
    labels[:2] = [0, 1]
    scores = rng.normal(size=n) + labels * rng.uniform(0, 2)
    scores[rng.random(n) < 0.3] = 0.25                     # many ties, across both classes
    if seed == 0:
        scores = np.round(scores, 1)
    assert roc_auc(scores, labels) == pytest.approx(_pairwise_auc(scores, labels), abs=1e-12)


def test_roc_auc_edges():
    from electra.tasks.pretraining import roc_auc
    assert roc_auc([0.1, 0.9], [0, 1]) == 1.0 and roc_auc([0.9, 0.1], [0, 1]) == 0.0
    assert roc_auc([3.0, 3.0, 3.0], [0, 1, 0]) == 0.5        # a constant scorer is chance
    assert np.isnan(roc_auc([0.1, 0.2], [0, 0])) and np.isnan(roc_auc([], []))
