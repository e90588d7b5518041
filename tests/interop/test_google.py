import numpy as np
import pytest
from safetensors.numpy import load_file

from electra.interop import WeightLoadError, load_google_checkpoint
from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering, ElectraPretrainingModel


def test_discriminator_only_model_from_pretraining_checkpoint(parity_dir, parity_config, parity_inputs):
    model = ElectraDiscriminator(parity_config)
    report = load_google_checkpoint(model, str(parity_dir / "google_ckpt"))
    assert any(name.startswith("generator/") for name in report.ignored)
    logits = model({"input_ids": parity_inputs["input_ids"], "input_mask": parity_inputs["attention_mask"],
                    "segment_ids": parity_inputs["token_type_ids"]})
    np.testing.assert_allclose(logits.numpy(), parity_inputs["disc_logits"], atol=1e-4)


def test_qa_model_from_pretraining_checkpoint(parity_dir, parity_config):
    model = ElectraForQuestionAnswering(parity_config)
    report = load_google_checkpoint(model, str(parity_dir / "google_ckpt" / "model.ckpt"))
    assert report.untouched == ["qa_outputs/bias", "qa_outputs/kernel"]
    theirs = load_file(parity_dir / "hf_discriminator" / "model.safetensors")
    np.testing.assert_array_equal(model.named_variables()["electra/embeddings/word_embeddings"].numpy(),
                                  theirs["electra.embeddings.word_embeddings.weight"])


def test_checkpoint_of_another_size_is_refused(parity_dir, parity_config):
    model = ElectraPretrainingModel(parity_config.replace(generator_num_hidden_layers=1))
    before = {n: v.numpy().copy() for n, v in model.named_variables().items()}
    with pytest.raises(WeightLoadError, match="another size.*generator/encoder/layer_1"):
        load_google_checkpoint(model, str(parity_dir / "google_ckpt"))
    for name, value in model.named_variables().items():
        np.testing.assert_array_equal(value.numpy(), before[name])


def test_missing_checkpoint(tmp_path, parity_config):
    with pytest.raises(WeightLoadError, match="no TF checkpoint"):
        load_google_checkpoint(ElectraDiscriminator(parity_config), str(tmp_path))
    with pytest.raises(WeightLoadError, match="model.ckpt.index does not exist"):
        load_google_checkpoint(ElectraDiscriminator(parity_config), str(tmp_path / "model.ckpt"))
