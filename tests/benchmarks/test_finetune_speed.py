"""The classification speed benchmark: the products it counts are those of the classifier's own graph, the matrix-
product bound it borrows from the SQuAD benchmark does the same work to within 0.1 %, and the step it times is the
recipe's optimizer over the classification loss."""
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import finetune_speed
from benchmarks.squad import forward_products, product_flops
from electra.configs import preset
from electra.modeling import ElectraForSequenceClassification
from electra.training.optimization import LayerwiseAdamW
from tests.benchmarks.test_squad import _graph_products, _listed

BATCH, SEQ, LABELS = 2, 48, 3


def test_the_products_are_those_of_the_classifiers_graph():
    config = preset("tiny")
    model = ElectraForSequenceClassification(config, LABELS)
    spec = tf.TensorSpec([BATCH, SEQ], tf.int32)
    traced = tf.function(lambda ids, mask, segments: model(
        {"input_ids": ids, "input_mask": mask, "segment_ids": segments})["logits"])
    graph = traced.get_concrete_function(spec, spec, spec).graph
    listed = _listed(finetune_speed.classification_products(config, BATCH, SEQ, LABELS))
    assert _graph_products(graph) == listed and sum(listed.values()) == 6 * config.num_hidden_layers + 3


def test_the_borrowed_bound_does_the_classifiers_work_within_a_tenth_of_a_percent():
    config = preset("small")
    ours = product_flops(finetune_speed.classification_products(config, 64, 128, 2))
    bound = product_flops(forward_products(config, 64, 128))
    assert ours != bound and abs(bound - ours) / ours < 1e-3


def test_the_timed_step_is_the_recipes_optimizer_over_the_classification_loss():
    model = ElectraForSequenceClassification(preset("tiny"), LABELS)
    trainer = finetune_speed.classification_trainer(model, total_steps=10)
    assert isinstance(trainer.optimizer, LayerwiseAdamW)
    batch = {k: tf.constant(v) for k, v in
             finetune_speed.classification_batch(np.random.default_rng(0), 4, 16, model.config.vocab_size,
                                                 LABELS).items()}
    before = [v.numpy().copy() for v in model.trainable_variables]
    metrics = trainer.train_step([batch])
    assert np.log(LABELS) * 0.5 < float(metrics["loss"]) < np.log(LABELS) * 2      # cross-entropy of 3 classes
    # step 0 of the recipe's warmup has learning rate 0; the second step moves the weights
    trainer.train_step([batch])
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, model.trainable_variables))
    o, schedule = finetune_speed.recipe_optimizer(10)
    assert (o.name, o.learning_rate, o.warmup_proportion) == ("layerwise_adamw", 3e-4, 0.1)
    assert float(schedule(0)) == 0.0 and float(schedule(1)) == pytest.approx(3e-4)
