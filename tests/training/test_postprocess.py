import json

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from electra.configs import ModelConfig, PretrainConfig
from electra.interop import load_hf_electra
from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering
from electra.training.checkpointing import load_model_weights, read_model_weights
from electra.training.postprocess import extract
from electra.training.pretrain import run
from tests.training.conftest import tiny_model_config


@pytest.mark.slow
def test_extract_discriminator_and_generator(pretraining_data, tmp_path):
    model_config = tiny_model_config(tmp_path / "model.json")
    run(PretrainConfig(output_dir=str(tmp_path / "run"), model_config_file=model_config,
                       train_files=pretraining_data["train"], vocab_file=pretraining_data["vocab"], max_seq_length=32,
                       train_batch_size=4, total_steps=3, warmup_steps=1, xla=False, shuffle_buffer=16))
    out = extract(str(tmp_path / "run"), str(tmp_path / "extracted"))
    trained = read_model_weights(tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")))
    config = ModelConfig.from_json_file(tmp_path / "extracted" / "discriminator" / "model_config.json")

    disc = ElectraDiscriminator(config)
    load_model_weights(disc, out["discriminator_checkpoint"])
    for name, variable in disc.named_variables().items():
        np.testing.assert_array_equal(variable.numpy(), trained[name], err_msg=name)
    assert not any(n.startswith("generator") for n in read_model_weights(out["discriminator_checkpoint"]))

    qa = ElectraForQuestionAnswering(config)  # fine-tuning starts from the extracted discriminator
    report = load_model_weights(qa, out["discriminator_checkpoint"])
    assert report.untouched == ["qa_outputs/bias", "qa_outputs/kernel"]
    hf_qa = ElectraForQuestionAnswering(config)
    load_hf_electra(hf_qa, out["discriminator_hf"])
    np.testing.assert_array_equal(hf_qa.named_variables()["electra/encoder/layer_1/output/dense/kernel"].numpy(),
                                  trained["electra/encoder/layer_1/output/dense/kernel"])

    generator = load_file(f"{out['generator_hf']}/model.safetensors")
    np.testing.assert_array_equal(generator["generator_lm_head.bias"], trained["generator_predictions/output_bias"])
    np.testing.assert_array_equal(generator["electra.encoder.layer.0.output.dense.weight"],
                                  trained["generator/encoder/layer_0/output/dense/kernel"].T)
    assert json.load(open(f"{out['generator_hf']}/config.json"))["hidden_size"] == config.generator_hidden_size
    assert open(out["vocab_file"]).read() == open(pretraining_data["vocab"]).read()
