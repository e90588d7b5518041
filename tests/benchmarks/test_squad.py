"""The SQuAD benchmark's model FLOPs and its matrix-product bound: the products it counts and times are the ones
in the model's own graph, with the FLOPs of the analytic count."""
import collections

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import squad as benchmark_squad
from benchmarks.flops import encoder_forward_flops
from electra.configs import preset
from electra.modeling import ElectraForQuestionAnswering

BATCH, SEQ = 2, 48


def _graph_products(graph) -> collections.Counter:
    """(left operand shape, right operand shape as multiplied ``[..., K, N]``) of every matrix product in ``graph``."""
    found = collections.Counter()
    for op in graph.get_operations():
        if op.type not in ("MatMul", "BatchMatMulV2"):
            continue
        left, right = (tuple(t.shape.as_list()) for t in op.inputs)
        flip_left, flip_right = ((op.get_attr("transpose_a"), op.get_attr("transpose_b")) if op.type == "MatMul"
                                 else (op.get_attr("adj_x"), op.get_attr("adj_y")))
        if flip_left:
            left = left[:-2] + left[:-3:-1]
        if flip_right:
            right = right[:-2] + right[:-3:-1]
        found[left, right] += 1
    return found


def _listed(products) -> collections.Counter:
    return collections.Counter((left, right) for _, left, right in products)


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_the_products_have_the_flops_of_the_analytic_count(size):
    config = preset(size)
    expected = encoder_forward_flops(config.discriminator, config.embedding_size, BATCH * SEQ, SEQ) \
        + BATCH * SEQ * 2 * config.hidden_size * 2                                              # span head
    assert benchmark_squad.product_flops(benchmark_squad.forward_products(config, BATCH, SEQ)) == expected


def test_the_products_are_those_of_the_question_answering_models_graph():
    config = preset("tiny")
    model = ElectraForQuestionAnswering(config)
    spec = tf.TensorSpec([BATCH, SEQ], tf.int32)
    traced = tf.function(lambda ids, mask, segments: model(
        {"input_ids": ids, "input_mask": mask, "segment_ids": segments})["start_logits"])
    graph = traced.get_concrete_function(spec, spec, spec).graph
    listed = _listed(benchmark_squad.forward_products(config, BATCH, SEQ))
    assert _graph_products(graph) == listed and sum(listed.values()) == 6 * config.num_hidden_layers + 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_bound_runs_exactly_the_products_chained_and_stays_finite(precision):
    config = preset("small")
    bound = benchmark_squad.matmul_bound(config, BATCH, SEQ, precision)
    graph = bound.get_concrete_function().graph
    assert _graph_products(graph) == _listed(benchmark_squad.forward_products(config, BATCH, SEQ))
    assert not {op.type for op in graph.get_operations()} & {"Softmax", "AddV2", "Add", "BiasAdd", "Transpose",
                                                              "Mul", "GatherV2", "Erf", "Tanh", "Cast"}
    products = [op for op in graph.get_operations() if op.type in ("MatMul", "BatchMatMulV2")]
    assert {op.outputs[0].dtype.name for op in products} == {"fp32": {"float32"}, "bf16": {"bfloat16"}}[precision]
    logits = bound().numpy().astype(np.float32)
    assert logits.shape == (BATCH * SEQ, 2) and np.isfinite(logits).all()
    assert 0.05 < logits.std() < 20                                 # kept near 1 through 12 layers
