"""Every layer and model with ``named_variables()`` through the shared harness (tests/modeling/harness.py):
fp32 / mixed_float16 / mixed_bfloat16, float32 logits, ``named_variables()`` coverage, checkpoint round trip."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering, ElectraPretrainingModel
from electra.modeling.heads import (ClassifierHead, DiscriminatorHead, GeneratorHead, JointSpanHead, SpanHead,
                                    answer_positions)
from electra.modeling.layers import Embeddings, Encoder, TransformerBlock, attention_bias, dense, dense_variables
from tests.conftest import masked_batch, tiny_config
from tests.modeling.harness import (FLOAT32, HIDDEN, LOGITS, POLICIES, Case, check_named_variables, check_outputs,
                                    run_checkpoint_round_trip, run_layer_test)

B, S, P = 2, 10, 3
CONFIG = tiny_config()
PADDED = tiny_config(pad_vocab_to_multiple_of=8)  # 60 → 64 embedding rows: logits cover the real vocab only
MODEL = tiny_config(num_hidden_layers=1, generator_num_hidden_layers=1, pad_vocab_to_multiple_of=8)  # models: 1 block
HEAD_NAMES = frozenset({"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"})
SAMPLE_SEED = (1, 2)  # the pretraining model's sample is stateless (hence deterministic) with a sample_seed


def batch(config):
    return masked_batch(config, batch=B, seq=S, predictions=P)


def hidden(size, length=S):
    return lambda config: np.random.default_rng(0).normal(size=(B, length, size)).astype(np.float32)


def built(layer):
    layer.build()
    return layer


def generator_head(config, policy):
    embeddings = built(Embeddings(config, name="embeddings", dtype=policy))
    return built(GeneratorHead(config, embeddings, name="generator_predictions", dtype=policy))


def encoder_call(layer, features, training, **kwargs):
    return layer(features["input_ids"], features["input_mask"], features["segment_ids"], training=training,
                 **kwargs)


def joint_head(config, policy, answerability=True):
    return built(JointSpanHead(config, answerability=answerability, name="joint_head", dtype=policy))


def head_inputs(config):
    features = batch(config)
    return hidden(config.hidden_size)(config), answer_positions(features["input_mask"], features["segment_ids"])


def with_start_positions(config):
    return {**batch(config), "start_positions": np.array([S // 3 + 1, 0], np.int32)}   # a context token, [CLS]


K = 3   # beam size of the joint cases
JOINT_NAMES = frozenset({"start_logits/dense/kernel", "start_logits/dense/bias", "end_logits/dense_0/kernel",
                         "end_logits/dense_0/bias", "end_logits/LayerNorm/gamma", "end_logits/LayerNorm/beta",
                         "end_logits/dense_1/kernel", "end_logits/dense_1/bias"})
ANSWER_CLASS_NAMES = frozenset({"answer_class/dense_0/kernel", "answer_class/dense_0/bias",
                                "answer_class/dense_1/kernel"})
BEAM_OUTPUTS = {"start_logits": ((B, S), LOGITS), "end_logits": ((B, S), LOGITS),
                "start_top_log_probs": ((B, K), LOGITS), "start_top_index": ((B, K), "int32"),
                "end_top_log_probs": ((B, K, K), LOGITS), "end_top_index": ((B, K, K), "int32")}


def block_inputs(config):
    features = batch(config)
    return hidden(config.hidden_size)(config), attention_bias(features["input_mask"])


CASES = [
    Case("embeddings", lambda c, p: built(Embeddings(c, name="embeddings", dtype=p)), batch,
         lambda layer, x, training: layer(x["input_ids"], x["segment_ids"], training=training),
         {"output": ((B, S, CONFIG.embedding_size), HIDDEN)}, CONFIG,
         names=frozenset({"word_embeddings", "LayerNorm/gamma"})),
    Case("transformer_block", lambda c, p: built(TransformerBlock(c, c.discriminator, name="layer_0", dtype=p)),
         block_inputs, lambda layer, x, training: layer(*x, training=training),
         {"output": ((B, S, CONFIG.hidden_size), HIDDEN)}, CONFIG,
         names=frozenset({"attention/self/query/kernel", "output/LayerNorm/beta"})),
    Case("encoder", lambda c, p: built(Encoder(c, c.discriminator, name="electra", dtype=p)), batch, encoder_call,
         {"output": ((B, S, CONFIG.hidden_size), HIDDEN)}, CONFIG,
         names=frozenset({"embeddings/word_embeddings", "embeddings_project/kernel",
                          "encoder/layer_1/output/dense/bias"})),
    Case("generator_encoder_hidden_states",
         lambda c, p: built(Encoder(c, c.generator, name="generator", dtype=p)), batch,
         lambda layer, x, training: encoder_call(layer, x, training, output_hidden_states=True),
         {str(i): ((B, S, CONFIG.generator_hidden_size), HIDDEN)
          for i in range(CONFIG.generator_num_hidden_layers + 1)}, CONFIG),
    Case("generator_head", generator_head, hidden(PADDED.generator_hidden_size, P),
         lambda layer, x, training: layer(x), {"output": ((B, P, PADDED.vocab_size), LOGITS)}, PADDED,
         shared=lambda layer: layer.embeddings.named_variables(),
         names=frozenset({"dense/kernel", "LayerNorm/gamma", "output_bias"})),
    Case("span_head", lambda c, p: built(SpanHead(c, name="span_head", dtype=p)), hidden(CONFIG.hidden_size),
         lambda layer, x, training: layer(x), {"0": ((B, S), LOGITS), "1": ((B, S), LOGITS)}, CONFIG,
         names=frozenset({"qa_outputs/kernel", "qa_outputs/bias"})),
    Case("classifier_head_tokens",
         lambda c, p: built(ClassifierHead(c, name="discriminator_predictions", dtype=p)),
         hidden(CONFIG.hidden_size), lambda layer, x, training: layer(x), {"output": ((B, S), LOGITS)}, CONFIG,
         names=HEAD_NAMES),
    Case("classifier_head_cls",
         lambda c, p: built(ClassifierHead(c, pool="cls", name="answer_class", dtype=p)),
         hidden(CONFIG.hidden_size), lambda layer, x, training: layer(x), {"output": ((B,), LOGITS)}, CONFIG,
         names=HEAD_NAMES),
    Case("pretraining", lambda c, p: ElectraPretrainingModel(c, seed=0, dtype=p), batch,
         lambda model, x, training: model(x, training=training, sample_seed=tf.constant(SAMPLE_SEED)),
         {"gen_logits": ((B, P, PADDED.vocab_size), LOGITS), "disc_logits": ((B, S), LOGITS),
          "sampled_ids": ((B, P), "int32"), "fake_ids": ((B, S), "int32"), "rtd_labels": ((B, S), FLOAT32)},
         MODEL,
         names=frozenset({"electra/embeddings/word_embeddings", "generator/embeddings_project/kernel",
                          "generator/encoder/layer_0/attention/output/LayerNorm/gamma",
                          "generator_predictions/output_bias", "generator_predictions/LayerNorm/beta",
                          *(f"discriminator_predictions/{n}" for n in HEAD_NAMES)})),
    Case("discriminator", lambda c, p: ElectraDiscriminator(c, dtype=p), batch,
         lambda model, x, training: model(x, training=training), {"output": ((B, S), LOGITS)}, MODEL,
         names=frozenset({"electra/encoder/layer_0/attention/self/key/bias",
                          *(f"discriminator_predictions/{n}" for n in HEAD_NAMES)})),
    Case("question_answering", lambda c, p: ElectraForQuestionAnswering(c, dtype=p), batch,
         lambda model, x, training: model(x, training=training),
         {"start_logits": ((B, S), LOGITS), "end_logits": ((B, S), LOGITS)}, MODEL,
         names=frozenset({"qa_outputs/kernel", "qa_outputs/bias", "electra/embeddings/LayerNorm/beta"})),
    Case("question_answering_answerability",
         lambda c, p: ElectraForQuestionAnswering(c, answerability=True, dtype=p), batch,
         lambda model, x, training: model(x, training=training),
         {"start_logits": ((B, S), LOGITS), "end_logits": ((B, S), LOGITS), "answerable_logits": ((B,), LOGITS)},
         MODEL, names=frozenset({"qa_outputs/kernel", *(f"answer_class/{n}" for n in HEAD_NAMES)})),
    Case("joint_span_head_beam", joint_head, head_inputs, lambda layer, x, training: layer.beam(*x, K),
         {**BEAM_OUTPUTS, "answerable_logits": ((B,), LOGITS)}, CONFIG, names=JOINT_NAMES | ANSWER_CLASS_NAMES),
    Case("joint_span_head_teacher_forced", joint_head, head_inputs,
         lambda layer, x, training: layer.teacher_forced(*x, tf.constant([S // 3 + 1, 0])),
         {"start_logits": ((B, S), LOGITS), "end_logits": ((B, S), LOGITS), "answerable_logits": ((B,), LOGITS)},
         CONFIG, names=JOINT_NAMES | ANSWER_CLASS_NAMES),
    Case("question_answering_joint", lambda c, p: ElectraForQuestionAnswering(c, joint=True, beam_size=K, dtype=p),
         batch, lambda model, x, training: model(x, training=training), BEAM_OUTPUTS, MODEL,
         names=JOINT_NAMES | {"electra/encoder/layer_0/output/dense/kernel"}),
    Case("question_answering_joint_answer_class",
         lambda c, p: ElectraForQuestionAnswering(c, answerability=True, joint=True, beam_size=K, dtype=p), batch,
         lambda model, x, training: model(x, training=training), {**BEAM_OUTPUTS, "answerable_logits": ((B,), LOGITS)},
         MODEL, names=JOINT_NAMES | ANSWER_CLASS_NAMES),
    Case("question_answering_joint_start_positions",
         lambda c, p: ElectraForQuestionAnswering(c, answerability=True, joint=True, beam_size=K, dtype=p),
         with_start_positions, lambda model, x, training: model(x, training=training),
         {"start_logits": ((B, S), LOGITS), "end_logits": ((B, S), LOGITS), "answerable_logits": ((B,), LOGITS)},
         MODEL, names=JOINT_NAMES | ANSWER_CLASS_NAMES),
]
IDS = [case.id for case in CASES]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer(case, policy):
    run_layer_test(case, policy)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_checkpoint_round_trip(case, tmp_path):
    run_checkpoint_round_trip(case, str(tmp_path))


# ---- the classifier head: one layer for replaced-token detection and answerability, Google's names -----------

def test_classifier_head_names_are_unchanged_in_both_pool_modes():
    assert DiscriminatorHead is ClassifierHead
    for pool in ClassifierHead.POOLS:
        assert set(built(ClassifierHead(CONFIG, pool=pool)).named_variables()) == HEAD_NAMES
    qa = ElectraForQuestionAnswering(CONFIG, answerability=True)
    assert {n for n in qa.named_variables() if not n.startswith("electra/")} == {
        "qa_outputs/kernel", "qa_outputs/bias", *(f"answer_class/{n}" for n in HEAD_NAMES)}
    discriminator = ElectraDiscriminator(CONFIG)
    assert {n for n in discriminator.named_variables() if not n.startswith("electra/")} == {
        f"discriminator_predictions/{n}" for n in HEAD_NAMES}


def test_classifier_head_cls_pool_is_the_token_head_on_the_first_token():
    tokens, cls = built(ClassifierHead(CONFIG)), built(ClassifierHead(CONFIG, pool="cls"))
    for name, variable in tokens.named_variables().items():
        cls.named_variables()[name].assign(variable)
    x = hidden(CONFIG.hidden_size)(CONFIG)
    np.testing.assert_allclose(cls(x).numpy(), tokens(x).numpy()[:, 0], rtol=1e-5, atol=1e-7)  # 2-D vs 3-D matmul


def test_joint_head_names():
    """The joint head's weights: NVIDIA's scopes (start_logits, end_logits, answer_class), no plain-head names."""
    qa = ElectraForQuestionAnswering(CONFIG, answerability=True, joint=True)
    assert {n for n in qa.named_variables() if not n.startswith("electra/")} == JOINT_NAMES | ANSWER_CLASS_NAMES
    v1 = ElectraForQuestionAnswering(CONFIG, joint=True)
    assert {n for n in v1.named_variables() if not n.startswith("electra/")} == JOINT_NAMES
    scopes = {n.split("/")[0] for n in JOINT_NAMES | ANSWER_CLASS_NAMES}
    assert set(ElectraForQuestionAnswering.optional_scopes) >= scopes


def test_classifier_head_rejects_unknown_pool():
    with pytest.raises(ValueError, match="pool"):
        ClassifierHead(CONFIG, pool="mean")


# ---- the harness catches what it is meant to catch -------------------------------------------------------------

class _Layer(keras.layers.Layer):
    """Two dense layers; ``named`` picks which of them ``named_variables()`` lists."""

    def __init__(self, named, logits_dtype=None, **kwargs):
        super().__init__(**kwargs)
        self.named, self.logits_dtype = named, logits_dtype
        self.a, self.b = dense(2, CONFIG, "a", self.dtype_policy), dense(2, CONFIG, "b", self.dtype_policy)
        self.a.build((None, 2))
        self.b.build((None, 2))
        self.extra = self.add_weight(name="extra", shape=(), initializer="zeros", trainable=False)
        self.built = True

    def call(self, x):
        out = self.b(self.a(x))
        return out if self.logits_dtype is None else tf.cast(out, self.logits_dtype)

    def named_variables(self):
        return self.named(self)


def test_harness_rejects_an_unnamed_trainable_variable():
    layer = _Layer(lambda s: {**dense_variables("a", s.a), "extra": s.extra})
    with pytest.raises(AssertionError, match="trainable variables missing"):
        check_named_variables(layer)


def test_harness_rejects_a_variable_named_twice():
    layer = _Layer(lambda s: {**dense_variables("a", s.a), **dense_variables("b", s.b), "extra": s.extra,
                              "alias": s.a.kernel})
    with pytest.raises(AssertionError, match="more than one name"):
        check_named_variables(layer)


def test_harness_rejects_an_unnamed_non_trainable_variable():
    layer = _Layer(lambda s: {**dense_variables("a", s.a), **dense_variables("b", s.b)})
    with pytest.raises(AssertionError, match="non-trainable"):
        check_named_variables(layer)


def test_harness_rejects_a_named_variable_the_layer_does_not_track():
    stray = keras.Variable(np.zeros(2, np.float32), name="stray")
    layer = _Layer(lambda s: {**dense_variables("a", s.a), **dense_variables("b", s.b), "extra": s.extra,
                              "stray": stray})
    with pytest.raises(AssertionError, match="does not track"):
        check_named_variables(layer)


def test_harness_rejects_half_precision_logits():
    case = Case("toy", None, None, None, {"output": ((1, 2), LOGITS)}, CONFIG)
    x = np.ones((1, 2), np.float32)
    check_outputs(case, {"output": _Layer(lambda s: {}, tf.float32, dtype="mixed_float16")(x)}, "mixed_float16")
    with pytest.raises(AssertionError, match="float16"):
        check_outputs(case, {"output": _Layer(lambda s: {}, dtype="mixed_float16")(x)}, "mixed_float16")
