import numpy as np

from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering
from electra.interop import save_hf_electra
from electra.squad.runner import SquadRunConfig, build_model_config, load_initial_weights, run
from electra.training.postprocess import save_weights_checkpoint
from tests.conftest import tiny_config


def _encoder_equal(a, b):
    named_a, named_b = a.named_variables(), b.named_variables()
    return all(np.array_equal(named_a[n].numpy(), named_b[n].numpy()) for n in named_a if n.startswith("electra/"))


def test_init_from_extracted_discriminator_and_hf(tmp_path, tiny_vocab):
    config = tiny_config(vocab_size=300)
    discriminator = ElectraDiscriminator(config)
    disc_dir = tmp_path / "discriminator"
    disc_dir.mkdir()
    save_weights_checkpoint(discriminator, str(disc_dir / "model.ckpt"))
    config.to_json_file(str(disc_dir / "model_config.json"))
    save_hf_electra(discriminator, str(tmp_path / "hf"))

    cfg = SquadRunConfig(output_dir=str(tmp_path / "out"), vocab_file=str(tiny_vocab), mode="train",
                         train_file="x", init_checkpoint=str(disc_dir / "model.ckpt"))
    assert build_model_config(cfg, 287) == config          # found beside the checkpoint
    model = ElectraForQuestionAnswering(config)
    head = model.named_variables()["qa_outputs/kernel"].numpy().copy()
    load_initial_weights(model, cfg)
    assert _encoder_equal(model, discriminator)
    np.testing.assert_array_equal(model.named_variables()["qa_outputs/kernel"].numpy(), head)

    hf_cfg = SquadRunConfig(output_dir=str(tmp_path / "out"), vocab_file=str(tiny_vocab), mode="train",
                            train_file="x", hf_checkpoint=str(tmp_path / "hf"))
    model = ElectraForQuestionAnswering(build_model_config(hf_cfg, 287))
    load_initial_weights(model, hf_cfg)
    assert _encoder_equal(model, discriminator)


def test_train_then_eval_from_output_dir(tmp_path, tiny_squad_file, tiny_vocab):
    common = dict(output_dir=str(tmp_path / "out"), vocab_file=str(tiny_vocab), predict_file=str(tiny_squad_file),
                  model_size="tiny", max_seq_length=64, doc_stride=24, max_query_length=16,
                  version_2_with_negative=True)
    trained = run(SquadRunConfig(mode="train_eval", train_file=str(tiny_squad_file), max_steps=3,
                                 train_batch_size=8, **common))
    evaluated = run(SquadRunConfig(mode="eval", **common))
    assert evaluated["initialized_from"].endswith("checkpoints")
    assert evaluated["eval"] == trained["eval"]
    assert {"predictions", "nbest", "null_odds"} <= set(evaluated["prediction_files"])


def test_init_from_google_checkpoint_falls_back(tmp_path, tiny_vocab, parity_dir, parity_config):
    cfg = SquadRunConfig(output_dir=str(tmp_path), vocab_file=str(tiny_vocab), mode="train", train_file="x",
                         init_checkpoint=str(parity_dir / "google_ckpt" / "model.ckpt"))
    model = ElectraForQuestionAnswering(parity_config)
    before = model.named_variables()["electra/encoder/layer_0/output/dense/kernel"].numpy().copy()
    assert load_initial_weights(model, cfg) == cfg.init_checkpoint
    after = model.named_variables()["electra/encoder/layer_0/output/dense/kernel"].numpy()
    assert not np.array_equal(before, after)
