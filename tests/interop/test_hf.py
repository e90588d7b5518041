import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from electra.interop import (WeightLoadError, load_hf_bert, load_hf_electra, load_hf_pretraining, save_hf_electra)
from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering, ElectraPretrainingModel
from tests.conftest import tiny_config


def _weights(model):
    return {name: v.numpy().copy() for name, v in model.named_variables().items()}


def _assert_same(a, b):
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture
def loaded(parity_dir, parity_config):
    model = ElectraPretrainingModel(parity_config)
    load_hf_pretraining(model, str(parity_dir / "hf_discriminator"), str(parity_dir / "hf_generator"))
    return model


@pytest.mark.parametrize("part,folder", [("discriminator", "hf_discriminator"), ("generator", "hf_generator")])
def test_export_reproduces_the_hf_file_bit_for_bit(loaded, parity_dir, tmp_path, part, folder):
    save_hf_electra(loaded, str(tmp_path), part=part)
    original = load_file(parity_dir / folder / "model.safetensors")
    exported = load_file(tmp_path / "model.safetensors")
    _assert_same(exported, original)
    theirs = json.loads((parity_dir / folder / "config.json").read_text())
    ours = json.loads((tmp_path / "config.json").read_text())
    for key in ("architectures", "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
                "num_attention_heads", "intermediate_size", "hidden_act", "max_position_embeddings",
                "type_vocab_size", "layer_norm_eps", "model_type"):
        assert ours[key] == theirs[key], key


def test_import_export_import_is_bit_identical(loaded, parity_config, tmp_path):
    save_hf_electra(loaded, str(tmp_path / "d"), part="discriminator")
    save_hf_electra(loaded, str(tmp_path / "g"), part="generator")
    again = ElectraPretrainingModel(parity_config)
    load_hf_pretraining(again, str(tmp_path / "d"), str(tmp_path / "g"))
    _assert_same(_weights(again), _weights(loaded))


def test_round_trip_with_projections_everywhere_and_qa_head(tmp_path):
    config = tiny_config()  # generator hidden 24 ≠ embedding 16: the generator has its own projection
    model = ElectraPretrainingModel(config)
    assert "generator/embeddings_project/kernel" in model.named_variables()
    save_hf_electra(model, str(tmp_path / "d"))
    save_hf_electra(model, str(tmp_path / "g"), part="generator")
    assert "electra.embeddings_project.weight" in load_file(tmp_path / "g" / "model.safetensors")
    again = ElectraPretrainingModel(config)
    load_hf_pretraining(again, str(tmp_path / "d"), str(tmp_path / "g"))
    _assert_same(_weights(again), _weights(model))

    qa = ElectraForQuestionAnswering(config)
    save_hf_electra(qa, str(tmp_path / "qa"))
    assert json.loads((tmp_path / "qa" / "config.json").read_text())["architectures"] == [
        "ElectraForQuestionAnswering"]
    qa_again = ElectraForQuestionAnswering(config)
    report = load_hf_electra(qa_again, str(tmp_path / "qa"))
    assert report.untouched == []
    _assert_same(_weights(qa_again), _weights(qa))


def test_pretrained_discriminator_into_qa_model_keeps_new_head(parity_dir, parity_config):
    qa = ElectraForQuestionAnswering(parity_config, answerability=True)
    head_before = qa.named_variables()["qa_outputs/kernel"].numpy().copy()
    report = load_hf_electra(qa, str(parity_dir / "hf_discriminator"))
    assert "qa_outputs/kernel" in report.untouched and "answer_class/dense/kernel" in report.untouched
    assert "discriminator_predictions/dense/kernel" in report.ignored
    np.testing.assert_array_equal(qa.named_variables()["qa_outputs/kernel"].numpy(), head_before)
    theirs = load_file(parity_dir / "hf_discriminator" / "model.safetensors")
    np.testing.assert_array_equal(qa.named_variables()["electra/encoder/layer_1/output/dense/kernel"].numpy(),
                                  theirs["electra.encoder.layer.1.output.dense.weight"].T)


def test_padded_vocab_30528_loads_into_30522_and_back(tmp_path):
    unpadded = tiny_config(vocab_size=30522, embedding_size=8, hidden_size=8, num_attention_heads=2,
                           intermediate_size=16, num_hidden_layers=1, generator_hidden_size=8,
                           generator_num_attention_heads=2, generator_intermediate_size=16,
                           generator_num_hidden_layers=1)
    padded = unpadded.replace(pad_vocab_to_multiple_of=8)
    nvidia = ElectraPretrainingModel(padded)
    assert nvidia.discriminator.embeddings.word_embeddings.shape == (30528, 8)
    save_hf_electra(nvidia, str(tmp_path / "d30528"), vocab_rows=30528)
    save_hf_electra(nvidia, str(tmp_path / "g30528"), part="generator", vocab_rows=30528)
    exported = load_file(tmp_path / "d30528" / "model.safetensors")
    assert exported["electra.embeddings.word_embeddings.weight"].shape == (30528, 8)
    assert json.loads((tmp_path / "d30528" / "config.json").read_text())["vocab_size"] == 30528

    model = ElectraPretrainingModel(unpadded)
    load_hf_pretraining(model, str(tmp_path / "d30528"), str(tmp_path / "g30528"))
    table = model.discriminator.embeddings.word_embeddings.numpy()
    assert table.shape == (30522, 8)
    np.testing.assert_array_equal(table, nvidia.discriminator.embeddings.word_embeddings.numpy()[:30522])
    np.testing.assert_array_equal(model.generator_head.output_bias.numpy(),
                                  nvidia.generator_head.output_bias.numpy()[:30522])

    save_hf_electra(model, str(tmp_path / "back"), vocab_rows=30528)
    back = load_file(tmp_path / "back" / "model.safetensors")["electra.embeddings.word_embeddings.weight"]
    assert back.shape == (30528, 8)
    np.testing.assert_array_equal(back[:30522], table)
    assert not back[30522:].any()  # padding rows are zeros

    save_hf_electra(model, str(tmp_path / "plain"))
    plain = load_file(tmp_path / "plain" / "model.safetensors")["electra.embeddings.word_embeddings.weight"]
    assert plain.shape == (30522, 8)


# --- bad input: clear errors, and the model is left untouched -------------------------------------------
def _tampered(parity_dir, tmp_path, change):
    tensors = load_file(parity_dir / "hf_discriminator" / "model.safetensors")
    change(tensors)
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    return str(path)


def _load_fails(model, path, match, **kwargs):
    before = _weights(model)
    with pytest.raises(WeightLoadError, match=match):
        load_hf_electra(model, path, **kwargs)
    _assert_same(_weights(model), before)  # never a partial load


def test_wrong_shape_names_tensor_and_both_shapes(parity_dir, parity_config, tmp_path):
    def change(t):
        t["electra.encoder.layer.1.intermediate.dense.weight"] = np.zeros((65, 32), np.float32)
    path = _tampered(parity_dir, tmp_path, change)
    _load_fails(ElectraPretrainingModel(parity_config), path,
                r"electra/encoder/layer_1/intermediate/dense/kernel.*\(32, 65\).*\(32, 64\)")


def test_missing_tensor_is_named(parity_dir, parity_config, tmp_path):
    path = _tampered(parity_dir, tmp_path, lambda t: t.pop("electra.encoder.layer.0.attention.self.key.bias"))
    _load_fails(ElectraPretrainingModel(parity_config), path, r"missing 1 .*layer_0/attention/self/key/bias")


def test_checkpoint_of_another_size(parity_dir, parity_config):
    deeper = ElectraPretrainingModel(parity_config.replace(num_hidden_layers=3))
    _load_fails(deeper, str(parity_dir / "hf_discriminator"), r"missing .*electra/encoder/layer_2/")
    shallower = ElectraDiscriminator(parity_config.replace(num_hidden_layers=1))
    _load_fails(shallower, str(parity_dir / "hf_discriminator"), r"another size.*electra/encoder/layer_1/")
    wider = ElectraDiscriminator(parity_config.replace(hidden_size=48, intermediate_size=96))
    _load_fails(wider, str(parity_dir / "hf_discriminator"), r"has shape \(16, 32\) in the file but \(16, 48\)")


def test_vocab_smaller_than_model_is_an_error(parity_dir, parity_config):
    model = ElectraDiscriminator(parity_config.replace(vocab_size=120))
    _load_fails(model, str(parity_dir / "hf_discriminator"), r"word_embeddings' has 100 vocabulary rows.*is 120")


def test_unknown_tensors_and_wrong_part(parity_dir, parity_config, tmp_path):
    path = _tampered(parity_dir, tmp_path, lambda t: t.update({"electra.encoder.adapter.weight": np.zeros(2)}))
    _load_fails(ElectraPretrainingModel(parity_config), path, "electra.encoder.adapter.weight")
    _load_fails(ElectraPretrainingModel(parity_config), str(parity_dir / "hf_generator"), "part='generator'")
    with pytest.raises(WeightLoadError, match="needs an ElectraPretrainingModel"):
        load_hf_electra(ElectraDiscriminator(parity_config), str(parity_dir / "hf_generator"), part="generator")


def test_mismatched_generator_and_discriminator_embeddings(parity_dir, parity_config, tmp_path):
    def change(t):
        t["electra.embeddings.word_embeddings.weight"] = t["electra.embeddings.word_embeddings.weight"] + 1
    path = _tampered(parity_dir, tmp_path, change)
    with pytest.raises(WeightLoadError, match="share embeddings"):
        load_hf_pretraining(ElectraPretrainingModel(parity_config), path, str(parity_dir / "hf_generator"))


def test_files_that_are_not_safetensors(parity_config, tmp_path):
    model = ElectraDiscriminator(parity_config)
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    _load_fails(model, str(tmp_path), "pickled PyTorch weights are not loaded")
    _load_fails(model, str(tmp_path / "pytorch_model.bin"), "pickled")
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    _load_fails(model, str(tmp_path / "broken.safetensors"), "broken.safetensors: not a readable safetensors")
    _load_fails(model, str(tmp_path / "nothing.safetensors"), "no such file")


def test_bert_checkpoint_with_old_layernorm_names_and_prefix(parity_dir, tmp_path):
    from electra.interop import config_from_hf
    tensors = load_file(parity_dir / "hf_bert" / "model.safetensors")
    renamed = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in tensors.items()}
    save_file(renamed, str(tmp_path / "model.safetensors"))
    config = config_from_hf(json.loads((parity_dir / "hf_bert" / "config.json").read_text()))
    a, b = ElectraDiscriminator(config), ElectraDiscriminator(config)
    load_hf_bert(a, str(parity_dir / "hf_bert"))
    report = load_hf_bert(b, str(tmp_path))
    assert report.untouched == sorted(n for n in b.named_variables() if n.startswith("discriminator_"))
    encoder = lambda m: {n: w for n, w in _weights(m).items() if n.startswith("electra/")}  # noqa: E731
    _assert_same(encoder(a), encoder(b))


def test_export_is_atomic_and_leaves_no_temp_files(loaded, tmp_path):
    save_hf_electra(loaded, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
