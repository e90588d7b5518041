import keras
import numpy as np
import pytest

from electra.modeling import ElectraForQuestionAnswering
from electra.training.optimization import AdamW, LayerwiseAdamW, layerwise_lr_factors, make_optimizer
from tests.conftest import tiny_config


def test_depths_and_factors():
    model = ElectraForQuestionAnswering(tiny_config(num_hidden_layers=3))
    factors = layerwise_lr_factors(model.named_variables(), 3, 0.5)  # Google's convention: head at depth L + 2
    assert factors["electra/embeddings/word_embeddings"] == pytest.approx(0.5 ** 5)
    assert factors["electra/embeddings_project/kernel"] == pytest.approx(0.5 ** 5)
    assert factors["electra/encoder/layer_0/attention/self/query/kernel"] == pytest.approx(0.5 ** 4)
    assert factors["electra/encoder/layer_2/output/LayerNorm/gamma"] == pytest.approx(0.25)
    assert factors["qa_outputs/kernel"] == 1.0
    shallow = layerwise_lr_factors(model.named_variables(), 3, 0.5, head_depth=4)
    assert shallow["electra/encoder/layer_2/output/dense/kernel"] == pytest.approx(0.5)


def _run(optimizer, variables, grads_list):
    optimizer.build(variables)
    for grads in grads_list:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    return [v.numpy() for v in variables]


def _torch_adamw(init, grads, lr, weight_decay, decayed, beta_1=0.9, beta_2=0.999, epsilon=1e-6):
    """``torch.optim.AdamW`` written out in float64 numpy: w·(1 − lr·wd), then w − lr·m̂/(√v̂ + ε)."""
    weights = [x.astype(np.float64) for x in init]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, step_grads in enumerate(grads, start=1):
        for i, g in enumerate(step_grads):
            if decayed[i]:
                weights[i] = weights[i] * (1.0 - lr[i] * weight_decay)
            m[i] = beta_1 * m[i] + (1.0 - beta_1) * g
            v[i] = beta_2 * v[i] + (1.0 - beta_2) * g * g
            m_hat, v_hat = m[i] / (1.0 - beta_1 ** t), v[i] / (1.0 - beta_2 ** t)
            weights[i] = weights[i] - lr[i] * m_hat / (np.sqrt(v_hat) + epsilon)
    return weights


def test_equals_adamw_and_scales_learning_rate():
    rng = np.random.default_rng(0)
    init = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)]
    grads = [[rng.normal(size=g.shape).astype(np.float32) for g in init] for _ in range(5)]
    grads[0][0][0, :2] = [1e-7, -3e-6]           # |g| ~ ε: where keras' ε-hat AdamW differs from PyTorch's

    def fresh():
        return [keras.Variable(x) for x in init]

    # every factor 1: exactly our AdamW (PyTorch's update), decay exclusions included
    kv = fresh()
    expected = _run(AdamW(1e-2, weight_decay=0.1, epsilon=1e-6, exclude=[kv[1]]), kv, grads)
    ov = fresh()
    ours = _run(LayerwiseAdamW(1e-2, weight_decay=0.1, exclude=[ov[1]]), ov, grads)
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ours, _torch_adamw(init, grads, [1e-2, 1e-2], 0.1, [True, False])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)

    # factor f on a variable = AdamW at learning rate lr × f for it (decay included)
    kv = fresh()
    expected_scaled = _run(AdamW(1e-2 * 0.3, weight_decay=0.1, epsilon=1e-6), kv, grads)
    ov = fresh()
    ours = _run(LayerwiseAdamW(1e-2, weight_decay=0.1, lr_factors=[(ov[0], 0.3), (ov[1], 0.3)]), ov, grads)
    for a, b in zip(ours, expected_scaled):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    ov = fresh()
    ours = _run(LayerwiseAdamW(1e-2, weight_decay=0.1, lr_factors=[(ov[0], 0.5)], exclude=[ov[1]]), ov, grads)
    for a, b in zip(ours, _torch_adamw(init, grads, [5e-3, 1e-2], 0.1, [True, False])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_keras_adamw_differs_where_the_gradient_is_small():
    """keras' AdamW puts ε on the uncorrected √v (the TF1 'epsilon hat'): at step 1 it behaves as ε / √(1 − β2)."""
    init = [np.zeros(3, np.float32)]
    grads = [[np.array([1e-5, 1e-6, 1e-7], np.float32)]]
    ours = _run(AdamW(1.0, weight_decay=0.0, epsilon=1e-6), [keras.Variable(init[0])], grads)[0]
    np.testing.assert_allclose(ours, -grads[0][0] / (grads[0][0] + 1e-6), rtol=1e-5)
    theirs = _run(keras.optimizers.AdamW(1.0, weight_decay=0.0, epsilon=1e-6), [keras.Variable(init[0])], grads)[0]
    np.testing.assert_allclose(theirs, -grads[0][0] / (grads[0][0] + 1e-6 / np.sqrt(1e-3)), rtol=1e-5)
    assert np.all(np.abs(theirs - ours) > 0.05 * np.abs(ours))


def test_layerwise_optimizer_fp16_wraps_loss_scale():
    model = ElectraForQuestionAnswering(tiny_config())
    optimizer = make_optimizer("layerwise_adamw", 1e-3, model.named_variables(), loss_scale=True)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(optimizer.inner_optimizer, LayerwiseAdamW)


def test_factors_and_exclusions_reach_the_model_variables():
    model = ElectraForQuestionAnswering(tiny_config())
    optimizer = make_optimizer("layerwise_adamw", 1e-3, model.named_variables(), layerwise_lr_decay=0.5,
                               weight_decay=0.01)
    variables = list(model.trainable_variables)
    optimizer.build(variables)
    names = {id(v): n for n, v in model.named_variables().items()}
    by_name = {names[id(v)]: (f, d) for v, f, d in zip(variables, optimizer._factors, optimizer._decays)}
    assert len(by_name) == len(variables)
    assert by_name["qa_outputs/kernel"] == (1.0, 0.01)
    assert by_name["qa_outputs/bias"] == (1.0, 0.0)
    assert by_name["electra/encoder/layer_1/output/LayerNorm/gamma"] == (0.25, 0.0)
    assert by_name["electra/embeddings/word_embeddings"] == (0.0625, 0.01)
