"""``electra.interop.extract``: a pretraining checkpoint (or Google's) → discriminator model directory + HF files."""
import json
import os

import numpy as np
import pytest
from safetensors.numpy import load_file

from electra.interop import load_hf_electra
from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering, ElectraPretrainingModel
from electra.interop.store import MODEL_DIRECTORY, TRAINING, resolve_source
from electra.interop.extract import extract
from tests.conftest import tiny_config
from tests.interop.test_store import (GOOGLE_SIZES, randomize, weights, write_google_checkpoint, write_training_run,
                                       write_vocab)


@pytest.mark.parametrize("config_in", ["model_config.json", "run_info.json"])
def test_extract_discriminator_and_generator(config_in, tmp_path):
    pretraining = randomize(ElectraPretrainingModel(tiny_config()))
    trained = weights(pretraining)
    vocab = write_vocab(tmp_path / "vocab.txt")
    write_training_run(tmp_path / "run", pretraining, step=3, vocab=vocab, config_in=config_in)
    out = extract(str(tmp_path / "run"), str(tmp_path / "extracted"))
    disc_dir = str(tmp_path / "extracted" / "discriminator")
    assert out["discriminator_dir"] == disc_dir

    source = resolve_source(out["discriminator_dir"])
    assert source.kind == MODEL_DIRECTORY and source.model_config == pretraining.config
    assert source.architecture == "discriminator" and source.heads == ("discriminator_predictions",)
    assert (source.metadata["task"], source.metadata["step"], source.metadata["source_kind"]) == \
        ("pretraining", 3, TRAINING)
    assert source.metadata["source"] == str(tmp_path / "run" / "checkpoints" / "ckpt-3")
    disc = ElectraDiscriminator(source.model_config)
    assert source.load_into(disc).untouched == []
    for name, variable in disc.named_variables().items():
        np.testing.assert_array_equal(variable.numpy(), trained[name], err_msg=name)

    qa = ElectraForQuestionAnswering(source.model_config)  # fine-tuning starts from the extracted discriminator
    assert source.load_into(qa).untouched == ["qa_outputs/bias", "qa_outputs/kernel"]

    hf_qa = ElectraForQuestionAnswering(pretraining.config)
    load_hf_electra(hf_qa, out["discriminator_hf"])
    np.testing.assert_array_equal(hf_qa.named_variables()["electra/encoder/layer_1/output/dense/kernel"].numpy(),
                                  trained["electra/encoder/layer_1/output/dense/kernel"])
    assert resolve_source(f"hf:{out['discriminator_hf']}").vocab_file == os.path.join(out["discriminator_hf"],
                                                                                       "vocab.txt")

    generator = load_file(f"{out['generator_hf']}/model.safetensors")
    np.testing.assert_array_equal(generator["generator_lm_head.bias"], trained["generator_predictions/output_bias"])
    np.testing.assert_array_equal(generator["electra.encoder.layer.0.output.dense.weight"],
                                  trained["generator/encoder/layer_0/output/dense/kernel"].T)
    assert json.load(open(f"{out['generator_hf']}/config.json"))["hidden_size"] == \
        pretraining.config.generator_hidden_size
    assert out["vocab_file"] == os.path.join(disc_dir, "vocab.txt")
    assert open(out["vocab_file"]).read() == open(vocab).read()

    again = extract(str(tmp_path / "run" / "checkpoints"), str(tmp_path / "extracted"))   # replaces it in place
    assert again == out
    assert not [n for n in os.listdir(tmp_path / "extracted") if n.startswith(".")]


def test_extract_from_a_google_checkpoint(tmp_path):
    pretraining = randomize(ElectraPretrainingModel(GOOGLE_SIZES))
    write_google_checkpoint(tmp_path / "google", pretraining)
    write_vocab(tmp_path / "google" / "vocab.txt")
    out = extract(f"google:{tmp_path / 'google'}", str(tmp_path / "out"))
    source = resolve_source(out["discriminator_dir"])
    assert source.model_config == GOOGLE_SIZES and source.metadata["step"] == 1000
    disc = ElectraDiscriminator(GOOGLE_SIZES)
    source.load_into(disc)
    trained = weights(pretraining)
    for name, variable in disc.named_variables().items():
        np.testing.assert_array_equal(variable.numpy(), trained[name], err_msg=name)


def test_extract_needs_a_model_config(tmp_path):
    prefix = write_training_run(tmp_path / "run", ElectraPretrainingModel(tiny_config()), config_in=None)
    with pytest.raises(FileNotFoundError, match="pass --model_config_file"):
        extract(prefix, str(tmp_path / "out"))
    tiny_config().to_json_file(str(tmp_path / "config.json"))
    out = extract(prefix, str(tmp_path / "out"), model_config_file=str(tmp_path / "config.json"))
    assert "vocab_file" not in out and resolve_source(out["discriminator_dir"]).vocab_file is None


def test_the_command_extracts_and_refuses_bad_input_with_exit_2(tmp_path, capsys):
    from electra.commands.extract import main
    write_training_run(tmp_path / "run", randomize(ElectraPretrainingModel(tiny_config())))
    assert main(["--pretrained_checkpoint", str(tmp_path / "run"), "--output_dir", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out)["discriminator_dir"] == str(tmp_path / "out" / "discriminator")
    assert main(["--checkpoint", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "x")]) == 2
    assert "missing: no such file or directory" in capsys.readouterr().err
    assert main(["--output_dir", str(tmp_path / "x")]) == 2
    assert "--checkpoint is required" in capsys.readouterr().err
