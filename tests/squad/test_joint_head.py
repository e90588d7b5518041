"""The joint (XLNet-style) SQuAD head: its logits against a by-hand numpy computation, the answer mask, the two
modes of ``ElectraForQuestionAnswering(joint=True)``, weights through a model directory, and a v2 answer class
that decides "no answer" end to end."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering
from electra.modeling.heads import MASKED_LOGIT, JointSpanHead, QAHead, answer_positions
from electra.interop.store import resolve_source, save_model_directory
from electra.squad.inference import Predictor
from electra.tokenization import load_tokenizer
from tests.conftest import tiny_config
from tests.squad.squad_helpers import squad_texts, write_word_vocab

CONFIG = tiny_config(num_hidden_layers=1)
H = CONFIG.hidden_size


def _inputs(rows=2, length=9, seed=0):
    """``[CLS] q q [SEP] c c c [SEP] pad`` (row 1: one more context token, no padding) and random hidden states."""
    rng = np.random.default_rng(seed)
    mask = np.ones((rows, length), np.int32)
    segments = np.zeros((rows, length), np.int32)
    mask[0, -1] = 0
    segments[0, 4:8] = 1
    segments[1, 4:] = 1
    hidden = rng.normal(size=(rows, length, H)).astype(np.float32)
    return hidden, mask, segments


def test_answer_positions_are_context_and_cls():
    _, mask, segments = _inputs()
    allowed = answer_positions(tf.constant(mask), tf.constant(segments)).numpy()
    np.testing.assert_array_equal(allowed, [[1, 0, 0, 0, 1, 1, 1, 0, 0],     # question, [SEP]s and padding out
                                            [1, 0, 0, 0, 1, 1, 1, 1, 0]])    # the closing [SEP] is last
    assert allowed.dtype == bool


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _numpy_head(weights, hidden, allowed, start_states):
    """Start logits, end logits given ``start_states`` ([B, H] or [B, K, H]) and the answer class, by hand."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = hidden.astype(np.float64)
    start = h @ w["start_logits/dense/kernel"][:, 0] + w["start_logits/dense/bias"][0]
    s = start_states.astype(np.float64)
    if s.ndim == 2:
        s = s[:, None]
    b, k, length = s.shape[0], s.shape[1], h.shape[1]
    pair = np.concatenate([np.broadcast_to(h[:, None], (b, k, length, H)),
                           np.broadcast_to(s[:, :, None], (b, k, length, H))], -1)      # concat(hidden, start)
    x = np.tanh(pair @ w["end_logits/dense_0/kernel"] + w["end_logits/dense_0/bias"])
    x = _layer_norm(x, w["end_logits/LayerNorm/gamma"], w["end_logits/LayerNorm/beta"], CONFIG.layer_norm_eps)
    end = x @ w["end_logits/dense_1/kernel"][:, 0] + w["end_logits/dense_1/bias"][0]
    start = np.where(allowed, start, MASKED_LOGIT)
    end = np.where(allowed[:, None], end, MASKED_LOGIT)
    return start, end


def _numpy_answer_class(weights, hidden, start_state):
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    x = np.concatenate([start_state, hidden[:, 0]], -1).astype(np.float64)
    x = np.tanh(x @ w["answer_class/dense_0/kernel"] + w["answer_class/dense_0/bias"])
    return x @ w["answer_class/dense_1/kernel"][:, 0]


@pytest.fixture(scope="module")
def head():
    keras.utils.set_random_seed(3)
    layer = JointSpanHead(CONFIG, answerability=True, name="joint_head")
    layer.build()
    rng = np.random.default_rng(1)
    for variable in layer.named_variables().values():     # away from the zero/one initial values
        variable.assign(rng.normal(scale=0.3, size=variable.shape).astype(np.float32))
    return layer


def test_teacher_forced_logits_equal_numpy(head):
    hidden, mask, segments = _inputs()
    allowed = answer_positions(tf.constant(mask), tf.constant(segments))
    gold = np.array([5, 0], np.int32)
    out = head.teacher_forced(tf.constant(hidden), allowed, tf.constant(gold))
    weights = {k: v.numpy() for k, v in head.named_variables().items()}
    start_states = hidden[np.arange(2), gold]
    start, end = _numpy_head(weights, hidden, allowed.numpy(), start_states)
    np.testing.assert_allclose(out["start_logits"].numpy(), start, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["end_logits"].numpy(), end[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["answerable_logits"].numpy(), _numpy_answer_class(weights, hidden, start_states),
                               rtol=1e-5, atol=1e-5)
    assert all(v.dtype == tf.float32 for v in out.values())
    assert out["end_logits"].numpy()[0, 1] == MASKED_LOGIT and out["end_logits"].numpy()[0, 0] != MASKED_LOGIT


def test_beam_equals_numpy(head):
    hidden, mask, segments = _inputs()
    allowed = answer_positions(tf.constant(mask), tf.constant(segments))
    k = 3
    out = {n: v.numpy() for n, v in head.beam(tf.constant(hidden), allowed, k).items()}
    weights = {n: v.numpy() for n, v in head.named_variables().items()}
    start, _ = _numpy_head(weights, hidden, allowed.numpy(), hidden[:, 0])
    start_lp = _log_softmax(start)
    top = np.argsort(-start_lp, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(out["start_top_index"], top)
    np.testing.assert_allclose(out["start_top_log_probs"], np.take_along_axis(start_lp, top, 1), rtol=1e-5, atol=1e-5)
    _, end = _numpy_head(weights, hidden, allowed.numpy(), hidden[np.arange(2)[:, None], top])      # [B, K, S]
    end_lp = _log_softmax(end)
    end_top = np.argsort(-end_lp, axis=2, kind="stable")[:, :, :k]
    np.testing.assert_array_equal(out["end_top_index"], end_top)
    np.testing.assert_allclose(out["end_top_log_probs"], np.take_along_axis(end_lp, end_top, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["end_logits"], end[:, 0], rtol=1e-5, atol=1e-5)   # given the top start
    expected_start = np.einsum("bsh,bs->bh", hidden, np.exp(start_lp))
    np.testing.assert_allclose(out["answerable_logits"], _numpy_answer_class(weights, hidden, expected_start),
                               rtol=1e-5, atol=1e-5)
    assert out["start_top_index"].dtype == np.int32 and out["end_top_index"].dtype == np.int32
    assert np.isin(out["start_top_index"][0], np.flatnonzero(allowed.numpy()[0])).all()   # 4 allowed, K = 3


def _batch(config, rows=3, length=12, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, config.vocab_size, size=(rows, length)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[0, 9:] = 0
    segments = np.zeros_like(ids)
    segments[:, 4:] = 1
    return {"input_ids": ids * mask, "input_mask": mask, "segment_ids": segments * mask}


def test_model_modes_agree():
    """Inference end logits are the training-mode end logits given the top start; the plain head is unchanged."""
    keras.utils.set_random_seed(0)
    model = ElectraForQuestionAnswering(CONFIG, answerability=True, joint=True, beam_size=4)
    batch = _batch(CONFIG)
    beam = {k: v.numpy() for k, v in model(batch, training=False).items()}
    assert sorted(beam) == ["answerable_logits", "end_logits", "end_top_index", "end_top_log_probs",
                            "start_logits", "start_top_index", "start_top_log_probs"]
    assert beam["start_top_index"].shape == (3, 4) and beam["end_top_log_probs"].shape == (3, 4, 4)
    forced = model({**batch, "start_positions": beam["start_top_index"][:, 0]}, training=False)   # no dropout
    assert sorted(forced) == ["answerable_logits", "end_logits", "start_logits"]
    np.testing.assert_allclose(forced["end_logits"].numpy(), beam["end_logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(forced["start_logits"].numpy(), beam["start_logits"], rtol=1e-5, atol=1e-5)
    assert (np.exp(beam["end_top_log_probs"]).sum(-1) <= 1 + 1e-5).all()
    assert model.qa_head == QAHead(joint=True, answerability=True, beam_size=4)
    v1 = ElectraForQuestionAnswering(CONFIG, joint=True)
    assert "answerable_logits" not in v1(batch) and "answerable_logits" not in v1(
        {**batch, "start_positions": np.zeros(3, np.int32)}, training=True)
    plain = ElectraForQuestionAnswering(CONFIG)
    assert sorted(plain(batch)) == ["end_logits", "start_logits"] and plain.qa_head == QAHead()
    assert {n.split("/")[0] for n in plain.named_variables()} == {"electra", "qa_outputs"}
    with pytest.raises(ValueError, match="beam_size"):
        ElectraForQuestionAnswering(CONFIG, joint=True, beam_size=0)


def test_joint_model_trains():
    """Gradients reach every head variable through the teacher-forced outputs (the loss the task computes); the
    biases under a softmax get a zero gradient by construction (a constant shift of every logit)."""
    model = ElectraForQuestionAnswering(CONFIG, answerability=True, joint=True)
    batch = {**_batch(CONFIG), "start_positions": np.array([5, 0, 6], np.int32)}
    with tf.GradientTape() as tape:
        out = model(batch, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits([5, 0, 6], out["start_logits"])) + \
            tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits([7, 0, 6], out["end_logits"])) + \
            tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits([1.0, 0.0, 1.0], out["answerable_logits"]))
    names = {n: v for n, v in model.named_variables().items() if not n.startswith("electra/")}
    grads = tape.gradient(loss, [getattr(v, "value", v) for v in names.values()])
    assert np.isfinite(loss.numpy())
    shift_invariant = {"start_logits/dense/bias", "end_logits/dense_1/bias"}
    dead = [n for n, g in zip(names, grads)
            if g is None or (n not in shift_invariant and not np.abs(np.asarray(g)).sum() > 0)]
    assert not dead and len(names) == 11


def test_weights_round_trip_through_a_model_directory(tmp_path):
    keras.utils.set_random_seed(1)
    model = ElectraForQuestionAnswering(CONFIG, answerability=True, joint=True, beam_size=3)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]))
    directory = save_model_directory(model, str(tmp_path / "model"), vocab_file=str(vocab), task="squad",
                                     source="test")
    source = resolve_source(directory)
    assert source.architecture == "question_answering"
    assert set(source.heads) == {"answer_class", "start_logits", "end_logits"}
    keras.utils.set_random_seed(2)
    fresh = ElectraForQuestionAnswering(CONFIG, answerability=True, joint=True, beam_size=3)
    source.load_into(fresh)
    batch = _batch(CONFIG)
    for key, value in model(batch).items():
        np.testing.assert_array_equal(value.numpy(), fresh(batch)[key].numpy(), err_msg=key)
    # a pretrained discriminator starts a joint model: the head's scopes are optional
    discriminator_dir = save_model_directory(ElectraDiscriminator(CONFIG), str(tmp_path / "disc"),
                                             vocab_file=str(vocab), task="pretraining", source="test")
    report = resolve_source(discriminator_dir).load_into(ElectraForQuestionAnswering(CONFIG, joint=True))
    assert "start_logits/dense/kernel" in report.untouched and "end_logits/LayerNorm/gamma" in report.untouched


# ---- a v2 answer class that says "no answer" decides, end to end ---------------------------------------------

CONTEXT = ("The Kestrel Point lighthouse was built in 1872 by the engineer Marta Ilves. Its lamp burned whale oil "
           "until 1911, when it was converted to kerosene.")


def test_v2_answer_class_predicts_no_answer(tmp_path):
    tokenizer = load_tokenizer(str(write_word_vocab(tmp_path, squad_texts())))
    keras.utils.set_random_seed(0)
    config = tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=64)
    model = ElectraForQuestionAnswering(config, answerability=True, joint=True)
    predictor = Predictor.from_model(model, tokenizer, max_seq_length=64, doc_stride=16, max_query_length=16,
                                     version_2_with_negative=True)
    names = model.named_variables()
    names["answer_class/dense_0/kernel"].assign(np.zeros((2 * config.hidden_size, config.hidden_size), np.float32))
    names["answer_class/dense_0/bias"].assign(np.ones(config.hidden_size, np.float32))   # tanh(1) in every unit
    for sign, expect_answer in ((-1.0, False), (1.0, True)):
        names["answer_class/dense_1/kernel"].assign(np.full((config.hidden_size, 1), sign, np.float32))
        answer = predictor.answer("Who built the lighthouse?", CONTEXT)
        assert answer["null_score_diff"] == pytest.approx(-sign * np.tanh(1.0) * config.hidden_size, rel=1e-5)
        if expect_answer:
            assert answer["text"] and CONTEXT[answer["start_char"]:answer["end_char"]] == answer["text"]
        else:
            assert answer["text"] == "" and answer["start_char"] == answer["end_char"] == -1
