"""``electra.squad.inference.inference_function`` / ``predict_logits``: the function TensorFlow runs for SQuAD
inference gives the model's own outputs for any number of rows, is traced once, and carries the oneDNN LayerNorm
form (``electra.modeling.layers.layer_norm_for_onednn``) only where TensorFlow's oneDNN rewrite can use it."""
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import ElectraForQuestionAnswering
from electra.squad.inference import inference_function, predict_logits
from tests.conftest import tiny_config


def _inputs(rows, length=40, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 60, size=(rows, length)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[::3, 25:] = 0
    segments = np.zeros_like(ids)
    segments[:, 12:] = 1
    return {"input_ids": ids * mask, "input_mask": mask, "segment_ids": segments * mask}


def _ops(function) -> set[str]:
    graph = function.get_concrete_function().graph
    return {op.type for op in graph.get_operations()} | {
        node.op for f in graph.as_graph_def().library.function for node in f.node_def}


@pytest.mark.parametrize("heads", [{}, {"answerability": True}])
def test_predict_logits_equals_the_model_for_any_batch_and_traces_once(heads):
    model = ElectraForQuestionAnswering(tiny_config(num_hidden_layers=2), **heads)
    inputs = _inputs(11)
    want = {k: v.numpy() for k, v in model(inputs, training=False).items()}
    got = predict_logits(model, inputs, batch_size=4)                 # batches of 4, 4 and 3
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5 * np.abs(want[key]).max())

    function = inference_function(model, inputs)
    for rows in (4, 3, 11):
        function({k: tf.constant(v[:rows]) for k, v in inputs.items()})
    assert function.experimental_get_tracing_count() == 1
    assert "FusedBatchNormV3" in _ops(function)                      # oneDNN is on in the tests (conftest)


def test_xla_inference_keeps_keras_layer_norms():
    model = ElectraForQuestionAnswering(tiny_config(num_hidden_layers=1))
    inputs = _inputs(3)
    function = inference_function(model, inputs, xla=True)
    assert "FusedBatchNormV3" not in _ops(function)
    got = function({k: tf.constant(v) for k, v in inputs.items()})
    want = model(inputs, training=False)
    np.testing.assert_allclose(got["start_logits"].numpy(), want["start_logits"].numpy(), rtol=1e-4, atol=1e-4)
