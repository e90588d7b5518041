"""The model directory and the one loader: round trips, dispatch on what the files are, atomic saves."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from electra.configs import ModelConfig
from electra.interop import WeightLoadError, save_hf_electra
from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering, ElectraPretrainingModel
from electra.interop import store
from electra.interop.store import (GOOGLE, HUGGING_FACE, MODEL_DIRECTORY, TRAINING, resolve_source,
                                    save_model_directory)
from electra.tokenization import load_tokenizer
from tests.conftest import tiny_config

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Sizes that follow google-research/electra's rules (heads = hidden // 64), so shapes determine the whole config.
GOOGLE_SIZES = ModelConfig(vocab_size=60, embedding_size=64, hidden_size=128, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=256, generator_hidden_size=64,
                           generator_num_hidden_layers=2, generator_num_attention_heads=1,
                           generator_intermediate_size=128, max_position_embeddings=48, type_vocab_size=3)


# --- helpers (tests/interop/test_extract.py uses them too) ------------------------------------------
def write_vocab(path, size=60) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in SPECIALS + [f"w{i}" for i in range(size - len(SPECIALS))]))
    return str(path)


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for variable in model.named_variables().values():
        variable.assign(rng.normal(0.0, 0.5, size=tuple(variable.shape)).astype("float32"))
    return model


def weights(model) -> dict:
    return {name: v.numpy().copy() for name, v in model.named_variables().items()}


def assert_same(model, expected: dict, names=None):
    got = weights(model)
    for name in names or expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def write_training_run(run, model, step=7, vocab=None, config_in="model_config.json") -> str:
    """What a training job leaves (``TrainingState``'s layout): ``checkpoints/ckpt-N`` with ``step``, ``model/<name>``
    and optimizer state, the model config (``model_config.json``, or only inside ``run_info.json``), the record."""
    run = str(run)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64),
                                     model={n: getattr(v, "value", v) for n, v in model.named_variables().items()},
                                     optimizer={"0000": tf.Variable(np.zeros(3, np.float32))})
    prefix = tf.train.CheckpointManager(checkpoint, os.path.join(run, "checkpoints"), max_to_keep=2,
                                        checkpoint_name="ckpt").save(checkpoint_number=step)
    info = {"world_size": 1}
    if vocab:
        info["vocab_file"] = os.path.abspath(vocab)
    if config_in == "model_config.json":
        model.config.to_json_file(os.path.join(run, "model_config.json"))
    elif config_in == "run_info.json":
        info["model_config"] = model.config.to_dict()
    with open(os.path.join(run, "run_info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f)
    return prefix


def write_google_checkpoint(directory, model, step=1000) -> str:
    """A TF1 checkpoint with google-research/electra's variable names, an Adam slot and ``global_step``."""
    os.makedirs(directory, exist_ok=True)
    prefix = os.path.join(str(directory), "model.ckpt")
    named = {n: v.numpy() for n, v in model.named_variables().items()}
    named["electra/embeddings/word_embeddings/adam_m"] = np.zeros_like(named["electra/embeddings/word_embeddings"])
    names = sorted(named) + ["global_step"]
    tensors = [tf.constant(named[n]) for n in sorted(named)] + [tf.constant(step, tf.int64)]
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    with open(os.path.join(str(directory), "checkpoint"), "w", encoding="utf-8") as f:
        f.write('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')
    return prefix


MODELS = {
    "discriminator": (lambda c: ElectraDiscriminator(c), ["discriminator_predictions"]),
    "question_answering": (lambda c: ElectraForQuestionAnswering(c, answerability=True), ["qa_outputs",
                                                                                          "answer_class"]),
    "pretraining": (lambda c: ElectraPretrainingModel(c), ["discriminator_predictions", "generator_predictions"]),
}


# --- the model directory ------------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", sorted(MODELS))
def test_save_resolve_load_round_trip(architecture, tmp_path):
    build, heads = MODELS[architecture]
    model = randomize(build(tiny_config()))
    vocab = write_vocab(tmp_path / "my_vocab.txt")
    directory = save_model_directory(model, str(tmp_path / "model"), vocab_file=vocab, do_lower_case=False,
                                     task="squad", source="unit test", step=12, extra={"note": "x"})
    assert sorted(os.listdir(directory)) == ["metadata.json", "model.safetensors", "model_config.json",
                                             "tokenizer_config.json", "vocab.txt"]
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []

    source = resolve_source(directory)
    assert source.kind == MODEL_DIRECTORY and source.path == directory
    assert source.model_config == model.config
    assert source.architecture == architecture and list(source.heads) == heads
    assert source.vocab_file == os.path.join(directory, "vocab.txt") and source.do_lower_case is False
    meta = source.metadata
    assert (meta["format"], meta["format_version"], meta["task"], meta["source"], meta["step"], meta["note"]) == \
        ("electra-model", 1, "squad", "unit test", 12, "x")
    assert meta["vocab_file"] == "vocab.txt" and meta["created"] and meta["electra_version"]
    assert open(source.vocab_file).read() == open(vocab).read()
    assert load_tokenizer(directory).lower_case is False   # the directory alone gives the right tokenizer

    again = build(source.model_config)
    report = source.load_into(again)
    assert report.untouched == []
    assert_same(again, weights(model))


def test_a_pretraining_directory_feeds_the_downstream_models(tmp_path):
    pretraining = randomize(ElectraPretrainingModel(tiny_config()))
    source = resolve_source(save_model_directory(pretraining, str(tmp_path / "m"), vocab_file=None, task="pretraining",
                                                 source=None))
    assert source.vocab_file is None and source.metadata["vocab_file"] is None
    qa = ElectraForQuestionAnswering(source.model_config)
    report = source.load_into(qa)
    assert report.untouched == ["qa_outputs/bias", "qa_outputs/kernel"]
    assert_same(qa, weights(pretraining), [n for n in weights(qa) if n.startswith("electra/")])


def test_a_failed_save_leaves_the_previous_directory(tmp_path, monkeypatch):
    vocab = write_vocab(tmp_path / "vocab.txt")
    first = randomize(ElectraDiscriminator(tiny_config()), seed=1)
    target = save_model_directory(first, str(tmp_path / "model"), vocab_file=vocab, task="pretraining", source="a")
    before = {name: open(os.path.join(target, name), "rb").read() for name in os.listdir(target)}

    def broken(arrays, path, metadata):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "write_safetensors", broken)
    second = randomize(ElectraDiscriminator(tiny_config()), seed=2)
    with pytest.raises(OSError, match="No space left"):
        save_model_directory(second, target, vocab_file=vocab, task="pretraining", source="b")
    assert {name: open(os.path.join(target, name), "rb").read() for name in os.listdir(target)} == before
    assert sorted(os.listdir(tmp_path)) == ["model", "vocab.txt"]   # no staging directory left behind
    again = ElectraDiscriminator(tiny_config())
    resolve_source(target).load_into(again)
    assert_same(again, weights(first))

    monkeypatch.undo()
    save_model_directory(second, target, vocab_file=vocab, task="pretraining", source="b")
    assert resolve_source(target).metadata["source"] == "b"
    resolve_source(target).load_into(again)
    assert_same(again, weights(second))
    assert sorted(os.listdir(tmp_path)) == ["model", "vocab.txt"]


def test_extra_metadata_may_not_replace_standard_keys(tmp_path):
    with pytest.raises(ValueError, match=r"\['format', 'task'\]"):
        save_model_directory(ElectraDiscriminator(tiny_config()), str(tmp_path / "m"), vocab_file=None,
                             task="pretraining", source=None, extra={"format": "x", "task": "y"})
    assert os.listdir(tmp_path) == []


# --- dispatch -----------------------------------------------------------------------------------------
def test_hugging_face_directory(tmp_path):
    model = randomize(ElectraDiscriminator(tiny_config()))
    hf = tmp_path / "hf"
    save_hf_electra(model, str(hf))
    write_vocab(hf / "vocab.txt")
    (hf / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    for spec in (f"hf:{hf}", str(hf)):
        source = resolve_source(spec)
        assert source.kind == HUGGING_FACE and source.path == str(hf)
        assert source.model_config.discriminator == model.config.discriminator
        assert source.vocab_file == str(hf / "vocab.txt") and source.do_lower_case is False
        assert source.architecture == "discriminator" and source.heads == ("discriminator_predictions",)
        again = ElectraDiscriminator(source.model_config)
        source.load_into(again)
        assert_same(again, weights(model))
    with pytest.raises(WeightLoadError, match="not a Hugging Face directory"):
        resolve_source(f"hf:{tmp_path}")


def test_hugging_face_generator_loads_into_the_generator(tmp_path):
    model = randomize(ElectraPretrainingModel(tiny_config()))
    save_hf_electra(model, str(tmp_path / "g"), part="generator")
    source = resolve_source(str(tmp_path / "g"))
    assert source.architecture == "generator"
    again = ElectraPretrainingModel(tiny_config())
    report = source.load_into(again)
    assert all(n.startswith(("generator", "electra/embeddings/")) for n in report.loaded)
    assert_same(again, weights(model), report.loaded)


def test_google_checkpoint_config_inferred_from_shapes(tmp_path):
    model = randomize(ElectraPretrainingModel(GOOGLE_SIZES))
    prefix = write_google_checkpoint(tmp_path / "google", model)
    write_vocab(tmp_path / "google" / "vocab.txt")
    for spec in (f"google:{tmp_path / 'google'}", f"google:{prefix}", prefix, prefix + ".index",
                 str(tmp_path / "google")):
        source = resolve_source(spec)
        assert source.kind == GOOGLE and source.path == prefix, spec
        assert source.model_config == GOOGLE_SIZES, spec
        assert source.vocab_file == str(tmp_path / "google" / "vocab.txt")
        assert source.metadata["step"] == 1000 and source.metadata["config_inferred"] is True
        assert source.architecture == "pretraining"
    again = ElectraPretrainingModel(source.model_config)
    report = source.load_into(again)
    assert "global_step" in report.ignored and "electra/embeddings/word_embeddings/adam_m" in report.ignored
    assert_same(again, weights(model))


def test_google_fixture_sizes_and_override(parity_dir, parity_config, tmp_path):
    """The parity fixture's heads (4 and 2 at widths 32 and 16) do not follow Google's rule, so only the heads
    differ from the inferred config; ``model_config_file`` gives the true one."""
    source = resolve_source(f"google:{parity_dir / 'google_ckpt'}")
    assert source.model_config == parity_config.replace(num_attention_heads=1, generator_num_attention_heads=1)
    parity_config.to_json_file(str(tmp_path / "config.json"))
    source = resolve_source(str(parity_dir / "google_ckpt"), model_config_file=str(tmp_path / "config.json"))
    assert source.kind == GOOGLE and source.model_config == parity_config
    assert source.metadata["config_inferred"] is False
    source.load_into(ElectraPretrainingModel(parity_config))


def test_dispatch_never_tries_one_loader_after_another(tmp_path, monkeypatch):
    """A Google checkpoint goes straight to the Google importer: the training-checkpoint loader (whose error text
    the old code matched on) is never called."""
    def not_this_one(*args, **kwargs):
        raise AssertionError("tried the training-checkpoint loader on a Google checkpoint")

    monkeypatch.setattr(store, "load_model_weights", not_this_one)
    model = randomize(ElectraDiscriminator(GOOGLE_SIZES))
    prefix = write_google_checkpoint(tmp_path / "g", model)
    again = ElectraDiscriminator(GOOGLE_SIZES)
    resolve_source(prefix).load_into(again)
    assert_same(again, weights(model))


@pytest.mark.parametrize("config_in", ["model_config.json", "run_info.json"])
def test_training_checkpoint_prefix_checkpoints_dir_and_run_dir(config_in, tmp_path):
    model = randomize(ElectraPretrainingModel(tiny_config()))
    vocab = write_vocab(tmp_path / "vocab.txt")
    run = tmp_path / "run"
    prefix = write_training_run(run, model, step=9, vocab=vocab, config_in=config_in)
    for spec in (prefix, prefix + ".index", str(run / "checkpoints"), str(run)):
        source = resolve_source(spec)
        assert source.kind == TRAINING and source.path == prefix, spec
        assert source.model_config == model.config and source.vocab_file == vocab
        assert source.metadata["run_dir"] == str(run) and source.metadata["step"] == 9
        assert source.architecture == "pretraining"
    assert source.metadata["model_config_file"] == (str(run / "model_config.json")
                                                    if config_in == "model_config.json" else None)
    again = ElectraPretrainingModel(source.model_config)
    source.load_into(again)
    assert_same(again, weights(model))
    disc = ElectraDiscriminator(source.model_config)    # a discriminator takes its half
    source.load_into(disc)
    assert_same(disc, weights(model), list(weights(disc)))


def test_run_squad_style_directory_vocab_in_the_run(tmp_path):
    """A fine-tuning run: no run_info vocabulary, the vocabulary copied into the run directory."""
    model = randomize(ElectraForQuestionAnswering(tiny_config(), answerability=True))
    run = tmp_path / "squad"
    write_training_run(run, model, config_in="model_config.json")
    vocab = write_vocab(run / "vocab.txt")
    source = resolve_source(str(run))
    assert source.kind == TRAINING and source.vocab_file == vocab
    assert source.heads == ("qa_outputs", "answer_class")


def test_training_checkpoint_without_a_run_directory(tmp_path):
    model = randomize(ElectraDiscriminator(tiny_config()))
    prefix = write_training_run(tmp_path / "run", model, config_in=None)
    source = resolve_source(prefix)
    assert source.kind == TRAINING and source.model_config is None and source.metadata["run_dir"] is None
    model.config.to_json_file(str(tmp_path / "c.json"))
    source = resolve_source(prefix, model_config_file=str(tmp_path / "c.json"))
    assert source.model_config == model.config
    with pytest.raises(WeightLoadError, match="nope.json does not exist"):
        resolve_source(prefix, model_config_file=str(tmp_path / "nope.json"))


def test_google_prefix_on_our_checkpoint_and_foreign_checkpoints(tmp_path):
    prefix = write_training_run(tmp_path / "run", ElectraDiscriminator(tiny_config()))
    with pytest.raises(WeightLoadError, match="written by this project's training.*drop the 'google:' prefix"):
        resolve_source(f"google:{prefix}")
    foreign = str(tmp_path / "bert" / "model.ckpt")
    os.makedirs(os.path.dirname(foreign))
    tf.raw_ops.SaveV2(prefix=foreign, tensor_names=["bert/embeddings/word_embeddings"], shape_and_slices=[""],
                      tensors=[tf.zeros([4, 2])])
    with pytest.raises(WeightLoadError, match=r"model.ckpt: a TF checkpoint, but neither ours.*nor Google's"):
        resolve_source(foreign)


def test_anything_else_is_refused_naming_the_path(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    (tmp_path / "stuff" / "metadata.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(WeightLoadError) as e:
        resolve_source(str(tmp_path / "stuff"))
    message = str(e.value)
    assert message.startswith(f"{tmp_path / 'stuff'}: not a model this project can load")
    for looked_for in ("metadata.json with format 'electra-model'", "config.json + model.safetensors",
                       "a TF checkpoint", "notes.txt"):
        assert looked_for in message
    with pytest.raises(WeightLoadError, match=f"{tmp_path / 'missing'}: no such file or directory"):
        resolve_source(str(tmp_path / "missing"))
    with pytest.raises(WeightLoadError, match="notes.txt: a file that is none of these"):
        resolve_source(str(tmp_path / "stuff" / "notes.txt"))


def test_a_newer_format_is_refused(tmp_path):
    directory = save_model_directory(ElectraDiscriminator(tiny_config()), str(tmp_path / "m"), vocab_file=None,
                                     task="pretraining", source=None)
    meta = json.loads(open(os.path.join(directory, "metadata.json")).read())
    meta["format_version"] = 2
    with open(os.path.join(directory, "metadata.json"), "w") as f:
        json.dump(meta, f)
    with pytest.raises(WeightLoadError, match="format_version 2 is newer"):
        resolve_source(directory)


def test_hugging_face_bert_directory(parity_dir):
    source = resolve_source(str(parity_dir / "hf_bert"))
    assert source.kind == HUGGING_FACE and source.metadata["model_type"] == "bert"
    assert source.architecture == "encoder" and source.heads == ()
    model = ElectraForQuestionAnswering(source.model_config)
    assert source.load_into(model).untouched == ["qa_outputs/bias", "qa_outputs/kernel"]
