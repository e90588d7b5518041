import numpy as np
import pytest
import tensorflow as tf

from electra.data import MaskingConfig, mask_tokens

CLS, SEP, PAD, MASK = 1, 2, 0, 3


def _batch(rows=256, seq=128, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 1000, size=(rows, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    for r in range(rows):
        length = int(rng.integers(20, seq + 1))
        ids[r, 0] = CLS
        ids[r, length // 2] = SEP
        ids[r, length - 1] = SEP
        ids[r, length:], mask[r, length:] = PAD, 0
    return ids, mask


def _mask(ids, mask, seed=(1, 2), **kw):
    out = mask_tokens(tf.constant(ids), tf.constant(mask), tf.constant(seed), MaskingConfig(**kw), MASK,
                      (CLS, SEP, PAD))
    return {k: v.numpy() for k, v in out.items()}


def test_masking_statistics_and_invariants():
    ids, mask = _batch()
    out = _mask(ids, mask)
    seq = ids.shape[1]
    assert out["masked_lm_positions"].shape == (len(ids), int((0.15 + 0.005) * seq))
    weights = out["masked_lm_weights"] > 0
    positions = out["masked_lm_positions"]
    chosen = np.take_along_axis(ids, positions, 1)
    assert not np.isin(chosen[weights], [CLS, SEP, PAD]).any()          # special tokens never masked
    np.testing.assert_array_equal(out["masked_lm_ids"][weights], chosen[weights])
    assert (positions[~weights] == 0).all() and (out["masked_lm_ids"][~weights] == 0).all()
    candidates = (mask.astype(bool) & ~np.isin(ids, [CLS, SEP])).sum(1)
    np.testing.assert_allclose(weights.sum() / candidates.sum(), 0.15, atol=0.005)
    after = np.take_along_axis(out["input_ids"], positions, 1)[weights]
    np.testing.assert_allclose((after == MASK).mean(), 0.85, atol=0.02)
    assert ((after == MASK) | (after == chosen[weights])).all()          # the rest are kept unchanged
    untouched = np.ones_like(ids, bool)
    for r in range(len(ids)):
        untouched[r, positions[r][weights[r]]] = False
    np.testing.assert_array_equal(out["input_ids"][untouched], ids[untouched])


def test_same_seed_same_masks_other_seed_other_masks():
    ids, mask = _batch(rows=8)
    a, b, c = _mask(ids, mask, (5, 6)), _mask(ids, mask, (5, 6)), _mask(ids, mask, (5, 7))
    np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
    assert not np.array_equal(a["masked_lm_positions"], c["masked_lm_positions"])


def test_short_sequences_and_cap():
    ids = np.array([[CLS, 7, SEP, PAD], [CLS, SEP, PAD, PAD]], np.int32)
    out = _mask(ids, (ids != PAD).astype(np.int32), max_predictions=2, mask_token_prob=1.0)
    assert out["masked_lm_weights"].tolist() == [[1.0, 0.0], [0.0, 0.0]]  # at least one if possible, none if not
    assert out["input_ids"].tolist() == [[CLS, MASK, SEP, PAD], [CLS, SEP, PAD, PAD]]


def test_invalid_config():
    with pytest.raises(ValueError, match="mask_prob"):
        MaskingConfig(mask_prob=0)
