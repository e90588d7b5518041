"""Our networks against transformers (PyTorch) ELECTRA/BERT on golden fixtures (see make_parity_fixtures.py)."""
import json

import numpy as np
import pytest

from electra.interop import config_from_hf, load_google_checkpoint, load_hf_bert, load_hf_pretraining
from electra.modeling import ElectraDiscriminator, ElectraPretrainingModel

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def hf_model(parity_dir, parity_config):
    model = ElectraPretrainingModel(parity_config)
    load_hf_pretraining(model, str(parity_dir / "hf_discriminator"), str(parity_dir / "hf_generator"))
    return model


def _inputs(parity_inputs):
    return parity_inputs["input_ids"], parity_inputs["attention_mask"], parity_inputs["token_type_ids"]


def test_inputs_have_padding(parity_inputs):
    assert parity_inputs["attention_mask"].sum(1).tolist() == [12, 9, 5]


def test_discriminator_logits_match_transformers(hf_model, parity_inputs):
    logits = hf_model.discriminator_logits(*_inputs(parity_inputs)).numpy()
    np.testing.assert_allclose(logits, parity_inputs["disc_logits"], atol=TOLERANCE, rtol=0)


def test_discriminator_hidden_states_match_transformers(hf_model, parity_inputs):
    states = hf_model.discriminator(*_inputs(parity_inputs), output_hidden_states=True)
    assert len(states) == parity_inputs["disc_hidden_states"].shape[0]
    for ours, theirs in zip(states, parity_inputs["disc_hidden_states"]):
        np.testing.assert_allclose(ours.numpy(), theirs, atol=TOLERANCE, rtol=0)


def test_generator_logits_and_hidden_states_match_transformers(hf_model, parity_inputs):
    logits = hf_model.generator_logits(*_inputs(parity_inputs)).numpy()
    assert logits.shape == parity_inputs["gen_logits"].shape
    np.testing.assert_allclose(logits, parity_inputs["gen_logits"], atol=TOLERANCE, rtol=0)
    states = hf_model.generator(*_inputs(parity_inputs), output_hidden_states=True)
    for ours, theirs in zip(states, parity_inputs["gen_hidden_states"]):
        np.testing.assert_allclose(ours.numpy(), theirs, atol=TOLERANCE, rtol=0)


def test_bert_hidden_states_match_transformers(parity_dir, parity_inputs):
    config = config_from_hf(json.loads((parity_dir / "hf_bert" / "config.json").read_text()))
    model = ElectraDiscriminator(config)
    report = load_hf_bert(model, str(parity_dir / "hf_bert"))
    assert "electra/encoder/layer_1/output/LayerNorm/gamma" in report.loaded
    assert any("pooler" in name for name in report.ignored)
    states = model.encoder(*_inputs(parity_inputs), output_hidden_states=True)
    for ours, theirs in zip(states, parity_inputs["bert_hidden_states"]):
        np.testing.assert_allclose(ours.numpy(), theirs, atol=TOLERANCE, rtol=0)


def test_google_checkpoint_import_equals_hf_import(hf_model, parity_dir, parity_config, parity_inputs):
    model = ElectraPretrainingModel(parity_config)
    report = load_google_checkpoint(model, str(parity_dir / "google_ckpt"))
    assert "global_step" in report.ignored and any(n.endswith("/adam_m") for n in report.ignored)
    ours, reference = model.named_variables(), hf_model.named_variables()
    assert set(ours) == set(reference)
    for name in ours:
        np.testing.assert_array_equal(ours[name].numpy(), reference[name].numpy(), err_msg=name)
    np.testing.assert_allclose(model.discriminator_logits(*_inputs(parity_inputs)).numpy(),
                               parity_inputs["disc_logits"], atol=TOLERANCE, rtol=0)
