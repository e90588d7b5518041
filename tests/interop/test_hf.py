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


# --- sentence and token classifiers (tests/fixtures/make_finetuning_fixtures.py) -------------------------
FINETUNING = {"sequence": ("hf_sequence_classification", "sequence_logits", 3),
              "token": ("hf_token_classification", "token_logits", 5)}
# TF's and PyTorch's float32 kernels sum in different orders: the logits agree to a few ulps, not bit for bit
LOGIT_ATOL = 1e-6


def _classifier(kind, config, num_labels):
    from electra.modeling import ElectraForSequenceClassification, ElectraForTokenClassification
    cls = ElectraForSequenceClassification if kind == "sequence" else ElectraForTokenClassification
    return cls(config, num_labels)


@pytest.fixture(scope="module")
def finetuning_dir(parity_dir):
    return parity_dir / "finetuning"


def _hf_config(directory):
    return json.loads((directory / "config.json").read_text())


def _finetuning_model(finetuning_dir, kind, num_labels=None):
    from electra.interop import config_from_hf
    folder, _, labels = FINETUNING[kind]
    return _classifier(kind, config_from_hf(_hf_config(finetuning_dir / folder)), num_labels or labels)


def _logits(model, arrays):
    import tensorflow as tf
    features = {k: tf.constant(arrays[k]) for k in ("input_ids", "input_mask", "segment_ids")}
    return model(features, training=False)["logits"].numpy()


@pytest.mark.parametrize("kind", sorted(FINETUNING))
def test_hf_classifier_loads_and_gives_transformers_logits(finetuning_dir, kind):
    folder, key, num_labels = FINETUNING[kind]
    arrays = dict(np.load(finetuning_dir / "logits.npz"))
    assert arrays["input_mask"].sum(1).tolist() == [12, 9, 5] and arrays["segment_ids"].any()
    model = _finetuning_model(finetuning_dir, kind)
    report = load_hf_electra(model, str(finetuning_dir / folder))
    assert report.untouched == [] and report.ignored == []
    theirs = load_file(finetuning_dir / folder / "model.safetensors")
    head = "classifier.out_proj.weight" if kind == "sequence" else "classifier.weight"
    ours = "classifier/out_proj/kernel" if kind == "sequence" else "classifier/kernel"
    np.testing.assert_array_equal(model.named_variables()[ours].numpy(), theirs[head].T)
    logits = _logits(model, arrays)
    assert logits.shape == arrays[key].shape == ((3, num_labels) if kind == "sequence" else (3, 12, num_labels))
    np.testing.assert_allclose(logits, arrays[key], atol=LOGIT_ATOL, rtol=0)


@pytest.mark.parametrize("kind", sorted(FINETUNING))
def test_classifier_export_reproduces_the_hf_files(finetuning_dir, tmp_path, kind):
    folder = FINETUNING[kind][0]
    model = _finetuning_model(finetuning_dir, kind)
    load_hf_electra(model, str(finetuning_dir / folder))
    theirs = _hf_config(finetuning_dir / folder)
    labels = [theirs["id2label"][str(i)] for i in range(len(theirs["id2label"]))]
    save_hf_electra(model, str(tmp_path), labels=labels)
    _assert_same(load_file(tmp_path / "model.safetensors"), load_file(finetuning_dir / folder / "model.safetensors"))
    ours = json.loads((tmp_path / "config.json").read_text())
    for key in ("architectures", "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
                "num_attention_heads", "intermediate_size", "hidden_act", "max_position_embeddings",
                "type_vocab_size", "layer_norm_eps", "model_type", "id2label", "label2id"):
        assert ours[key] == theirs[key], key
    assert ours.get("problem_type") == theirs.get("problem_type")
    again = _finetuning_model(finetuning_dir, kind)
    assert load_hf_electra(again, str(tmp_path)).untouched == []
    _assert_same(_weights(again), _weights(model))


def test_regression_and_label_settings_of_the_export(parity_config, tmp_path):
    from electra.modeling import ElectraForSequenceClassification
    regression = ElectraForSequenceClassification(parity_config, 1)
    save_hf_electra(regression, str(tmp_path / "r"), regression=True)
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["architectures"] == ["ElectraForSequenceClassification"]
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "LABEL_0"}
    tagger = _classifier("token", parity_config, 3)
    save_hf_electra(tagger, str(tmp_path / "t"))
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    assert config["label2id"] == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2} and "problem_type" not in config
    with pytest.raises(ValueError, match="regression needs a sentence classifier with num_labels=1"):
        save_hf_electra(ElectraForSequenceClassification(parity_config, 3), str(tmp_path / "x"), regression=True)
    with pytest.raises(ValueError, match="3 distinct names"):
        save_hf_electra(tagger, str(tmp_path / "x"), labels=["O", "B-PER"])
    with pytest.raises(ValueError, match="describe a classifier"):
        save_hf_electra(ElectraDiscriminator(parity_config), str(tmp_path / "x"), labels=["a"])
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind", sorted(FINETUNING))
def test_pretrained_discriminator_into_classifier_keeps_fresh_head(parity_dir, parity_config, kind):
    model = _classifier(kind, parity_config, 4)
    head = {n: v.numpy().copy() for n, v in model.named_variables().items() if n.startswith("classifier/")}
    report = load_hf_electra(model, str(parity_dir / "hf_discriminator"))
    assert report.untouched == sorted(head)
    assert "discriminator_predictions/dense/kernel" in report.ignored
    for name, value in head.items():
        np.testing.assert_array_equal(model.named_variables()[name].numpy(), value)


@pytest.mark.parametrize("kind", sorted(FINETUNING))
def test_classifier_with_other_num_labels_names_the_tensor(finetuning_dir, kind):
    model = _finetuning_model(finetuning_dir, kind, num_labels=2)
    tensor, shapes = ("classifier/out_proj/kernel", r"\(32, 3\) in the file but \(32, 2\)") if kind == "sequence" \
        else ("classifier/kernel", r"\(32, 5\) in the file but \(32, 2\)")
    _load_fails(model, str(finetuning_dir / FINETUNING[kind][0]), f"{tensor}' has shape {shapes}")


@pytest.mark.parametrize("kind,other", [("sequence", "token"), ("token", "sequence")])
def test_other_kind_of_classifier_loads_the_encoder_only(finetuning_dir, kind, other, caplog):
    model = _finetuning_model(finetuning_dir, other, num_labels=4)
    head = {n: v.numpy().copy() for n, v in model.named_variables().items() if n.startswith("classifier/")}
    folder = FINETUNING[kind][0]
    report = load_hf_electra(model, str(finetuning_dir / folder))
    assert report.untouched == sorted(head)
    assert {n for n in report.ignored if n.startswith("classifier/")} == (
        {"classifier/dense/kernel", "classifier/dense/bias", "classifier/out_proj/kernel", "classifier/out_proj/bias"}
        if kind == "sequence" else {"classifier/kernel", "classifier/bias"})
    assert "classifier stays as it was" in caplog.text
    for name, value in head.items():
        np.testing.assert_array_equal(model.named_variables()[name].numpy(), value)
    theirs = load_file(finetuning_dir / folder / "model.safetensors")
    np.testing.assert_array_equal(model.named_variables()["electra/encoder/layer_1/output/dense/kernel"].numpy(),
                                  theirs["electra.encoder.layer.1.output.dense.weight"].T)
    qa = ElectraForQuestionAnswering(model.config)
    assert any(n.startswith("classifier") for n in load_hf_electra(qa, str(finetuning_dir / folder)).ignored)


def _bert_with_classifier(parity_dir, directory, num_labels, pooler: bool):
    """BertForTokenClassification (no pooler) or BertForSequenceClassification (pooler → classifier) weights:
    the parity BertModel's, under ``bert.``, plus a random classifier."""
    rng = np.random.default_rng(3)
    tensors = {"bert." + k: v for k, v in load_file(parity_dir / "hf_bert" / "model.safetensors").items()
               if pooler or ".pooler." not in "." + k}
    assert any("pooler" in k for k in tensors) == pooler
    tensors["classifier.weight"] = rng.normal(0, 0.1, (num_labels, 32)).astype(np.float32)
    tensors["classifier.bias"] = rng.normal(0, 0.1, (num_labels,)).astype(np.float32)
    directory.mkdir()
    save_file(tensors, str(directory / "model.safetensors"))
    config = json.loads((parity_dir / "hf_bert" / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification" if pooler else "BertForTokenClassification"]
    (directory / "config.json").write_text(json.dumps(config))
    return tensors


def test_bert_token_classifier_loads_and_sequence_classifier_head_is_ignored(parity_dir, tmp_path, caplog):
    from electra.interop import config_from_hf
    from electra.interop.store import resolve_source
    config = config_from_hf(json.loads((parity_dir / "hf_bert" / "config.json").read_text()))
    tokens = _bert_with_classifier(parity_dir, tmp_path / "tok", 5, pooler=False)
    tagger = _classifier("token", config, 5)
    assert load_hf_bert(tagger, str(tmp_path / "tok")).untouched == []
    np.testing.assert_array_equal(tagger.named_variables()["classifier/kernel"].numpy(),
                                  tokens["classifier.weight"].T)
    source = resolve_source(str(tmp_path / "tok"))
    assert (source.architecture, source.heads) == ("token_classification", ("classifier",))

    _bert_with_classifier(parity_dir, tmp_path / "seq", 3, pooler=True)
    for model in (_classifier("sequence", config, 3), _classifier("token", config, 3)):
        head = {n: v.numpy().copy() for n, v in model.named_variables().items() if n.startswith("classifier/")}
        report = load_hf_bert(model, str(tmp_path / "seq"))
        assert report.untouched == sorted(head)
        assert {"classifier.weight", "classifier.bias"} <= set(report.ignored)
        for name, value in head.items():
            np.testing.assert_array_equal(model.named_variables()[name].numpy(), value)
    assert "BertForSequenceClassification-style head" in caplog.text
    source = resolve_source(str(tmp_path / "seq"))
    assert (source.architecture, source.heads) == ("encoder", ())


@pytest.mark.parametrize("kind", sorted(FINETUNING))
def test_resolve_source_reads_classifier_directories(finetuning_dir, tmp_path, kind):
    from electra.interop.store import HUGGING_FACE, MODEL_DIRECTORY, resolve_source, save_model_directory
    folder, _, num_labels = FINETUNING[kind]
    architecture = f"{kind}_classification"
    source = resolve_source(str(finetuning_dir / folder))
    theirs = _hf_config(finetuning_dir / folder)
    assert source.kind == HUGGING_FACE and (source.architecture, source.heads) == (architecture, ("classifier",))
    assert source.metadata["num_labels"] == num_labels
    assert source.metadata["labels"] == [theirs["id2label"][str(i)] for i in range(num_labels)]
    assert source.metadata["problem_type"] == theirs.get("problem_type")
    model = _classifier(kind, source.model_config, num_labels)
    assert source.load_into(model).untouched == []

    save_model_directory(model, str(tmp_path / "ours"), vocab_file=None, task="classification", source="test")
    ours = resolve_source(str(tmp_path / "ours"))
    assert ours.kind == MODEL_DIRECTORY and (ours.architecture, ours.heads) == (architecture, ("classifier",))
    again = _classifier(kind, ours.model_config, num_labels)
    assert ours.load_into(again).untouched == []
    _assert_same(_weights(again), _weights(model))
