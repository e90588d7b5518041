"""The export of sentence classifiers, regressors and taggers (one ``logits`` output, label names as an asset)
against the real consumers the SQuAD export passes (tests/test_export.py's helpers): the TF1 graph loader,
``saved_model_cli``, OpenVINO and ONNX Runtime, each within 1e-4 of the model in memory on real text (SQuAD
questions and paragraphs through the real uncased WordPiece vocabulary, padding included); and ``electra-export``
choosing that export from the source's head."""
import json
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from electra.export import (INPUT_NAMES, LOGITS_NAMES, export_onnx, export_openvino, export_saved_model,
                            load_settings)
from electra.modeling import ElectraForSequenceClassification, ElectraForTokenClassification
from electra.tokenization import load_tokenizer
from tests.conftest import tiny_config
from tests.test_export import (_assert_parity, _openvino_outputs, _saved_model_cli, _serve, _tf1_outputs)

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
VOCAB_FILE = FIXTURES / "vocab" / "bert-uncased-vocab.txt"
SQUAD_FILE = FIXTURES / "squad" / "train-v1.1-12-articles.json"
LENGTH = 128
NLI_LABELS = ["contradiction", "entailment", "neutral"]
NER_LABELS = ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER", "O"]
KINDS = {"classification": (ElectraForSequenceClassification, NLI_LABELS),
         "tagging": (ElectraForTokenClassification, NER_LABELS)}


def _config():
    return tiny_config(vocab_size=30522, max_position_embeddings=LENGTH)


def _real_texts(count: int = 4) -> list[tuple[str, str]]:
    """(question, paragraph) pairs of real SQuAD text, one per article."""
    with open(SQUAD_FILE, encoding="utf-8") as f:
        articles = json.load(f)["data"][:count]
    return [(a["paragraphs"][0]["qas"][0]["question"], a["paragraphs"][0]["context"]) for a in articles]


def _real_batch(length: int = LENGTH) -> dict[str, np.ndarray]:
    """``[CLS] question [SEP] paragraph [SEP]`` rows of real token ids; the paragraphs cut to different lengths so
    that three of the four rows end in padding."""
    tokenizer = load_tokenizer(VOCAB_FILE)
    rows = np.zeros((3, 4, length), np.int32)
    for row, ((question, context), keep) in enumerate(zip(_real_texts(), (6, 30, 70, 500))):
        a, b = tokenizer.encode(question)[:30], tokenizer.encode(context)[:keep]
        ids = ([tokenizer.cls_id] + a + [tokenizer.sep_id] + b)[:length - 1] + [tokenizer.sep_id]
        rows[0, row, :len(ids)] = ids
        rows[1, row, :len(ids)] = 1
        rows[2, row, len(a) + 2:len(ids)] = 1
    assert rows[1].sum(axis=1).min() < length // 2 and rows[1].sum(axis=1).max() == length
    return dict(zip(INPUT_NAMES, rows))


def _build(kind: str, seed: int = 1):
    """A model whose weights are spread as trained ones are (logits of order 1, rows that differ), not at the
    0.02-std initialization whose classifier logits differ between inputs by less than the tolerance."""
    cls, labels = KINDS[kind]
    model = cls(_config(), len(labels))
    rng = np.random.default_rng(seed)
    for name, variable in model.named_variables().items():
        shape = tuple(variable.shape)
        if len(shape) == 2:
            spread = 1.0 if "embeddings/" in name and "project" not in name else shape[0] ** -0.5
            value = rng.normal(0.0, spread, shape)
        else:
            value = rng.normal(1.0 if name.endswith("gamma") else 0.0, 0.1, shape)
        variable.assign(value.astype(np.float32))
    return model, labels


@pytest.fixture(scope="module", params=sorted(KINDS))
def exported(request, tmp_path_factory):
    """A classifier or tagger exported at length 128 with its labels, and its outputs in memory."""
    kind = request.param
    model, labels = _build(kind)
    root = tmp_path_factory.mktemp(f"export_{kind}")
    settings = {"labels": labels, **({"stride": 40, "tag_scheme": "BIO"} if kind == "tagging"
                                     else {"glue_task": "mnli"})}
    export_dir = export_saved_model(model, str(root / "saved_model"), str(VOCAB_FILE), **settings)
    inputs = _real_batch()
    expected = {"logits": model(inputs, training=False)["logits"].numpy()}
    assert np.ptp(expected["logits"], axis=0).max() > 0.1       # rows differ by far more than the tolerance
    return kind, model, export_dir, inputs, expected


def _report(consumer: str, kind: str, difference: float) -> None:
    print(f"max |{consumer} - in-memory| ({kind}): {difference:.2e}")


def test_assets_signature_and_length_check(exported):
    kind, model, export_dir, inputs, expected = exported
    settings = load_settings(export_dir)
    labels = KINDS[kind][1]
    sentence = kind == "classification"
    assert settings == {
        "task": kind, "max_seq_length": LENGTH, "do_lower_case": True, "labels": labels,
        "stride": None if sentence else 40, "tag_scheme": None if sentence else "BIO",
        "glue_task": "mnli" if sentence else None, "pooler_activation": "gelu" if sentence else None,
        "text_column": None, "text_pair_column": None, "model_config": model.config.to_dict(),
        "vocab_file": "bert-uncased-vocab.txt"}
    assets = pathlib.Path(export_dir) / "assets"
    assert json.loads((assets / "labels.json").read_text()) == labels
    assert (assets / "bert-uncased-vocab.txt").read_bytes() == VOCAB_FILE.read_bytes()
    loaded = tf.saved_model.load(export_dir)
    assert os.path.basename(loaded.labels_file.asset_path.numpy().decode()) == "labels.json"
    serve = loaded.signatures["serving_default"]
    shape = [None, len(labels)] if kind == "classification" else [None, LENGTH, len(labels)]
    assert {k: (v.dtype.name, v.shape.as_list()) for k, v in serve.structured_outputs.items()} == {
        "logits": ("float32", shape)}
    _report("eager SavedModel", kind, _assert_parity(_serve(export_dir, inputs), expected, 1e-5, LOGITS_NAMES))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"input_mask \[4,64\] is not compatible with expected "
                                                             r"shape \[\?,128\]"):
        serve(**{k: tf.constant(v[:, :64] if k == "input_mask" else v) for k, v in inputs.items()})


def test_tf1_graph_loader(exported):
    kind, _, export_dir, inputs, expected = exported
    _report("TF1 graph loader", kind,
            _assert_parity(_tf1_outputs(export_dir, inputs, LOGITS_NAMES), expected, 1e-4, LOGITS_NAMES))


@pytest.mark.slow
def test_saved_model_cli_run(exported, tmp_path):
    kind, _, export_dir, inputs, expected = exported
    out = _saved_model_cli(export_dir, inputs, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "out")) == ["logits.npy"]
    _report("saved_model_cli", kind, _assert_parity({"logits": np.load(tmp_path / "out" / "logits.npy")},
                                                    expected, 1e-4, LOGITS_NAMES))


def test_openvino(exported, tmp_path):
    import openvino as ov

    kind, _, export_dir, inputs, expected = exported
    xml = export_openvino(export_dir, str(tmp_path / "ir"))
    ir = ov.Core().read_model(xml)
    assert [sorted(o.get_names()) for o in ir.outputs] == [["logits"]]
    assert [sorted(i.get_names()) for i in ir.inputs] == [[n] for n in INPUT_NAMES]
    assert sorted(os.listdir(tmp_path / "ir")) == ["bert-uncased-vocab.txt", "labels.json", "model.bin",
                                                  "model.xml", "task_settings.json"]
    (logits,) = _openvino_outputs(xml, inputs)
    _report("OpenVINO", kind, _assert_parity({"logits": logits}, expected, 1e-4, LOGITS_NAMES))


@pytest.mark.slow
def test_onnx_runtime(exported, tmp_path):
    import onnx
    import onnxruntime as ort

    kind, model, export_dir, inputs, expected = exported
    paths = [export_onnx(export_dir, str(tmp_path / "from_saved_model.onnx")),
             export_onnx(model, str(tmp_path / "from_model.onnx"))]
    for path in paths:
        graph = onnx.load(path).graph
        assert [o.name for o in graph.output] == ["logits"]
        assert [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input] == \
            [["batch", LENGTH]] * 3
        (logits,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, inputs)
        _report(f"onnxruntime ({os.path.basename(path)})", kind,
                _assert_parity({"logits": logits}, expected, 1e-4, LOGITS_NAMES))


def test_export_refuses_settings_that_do_not_fit_the_model(tmp_path):
    classifier, labels = _build("classification")
    tagger, tags = _build("tagging")
    vocab, target = str(VOCAB_FILE), str(tmp_path / "x")
    cases = [
        (classifier, {}, "give the classification model's 3 distinct label names"),
        (classifier, {"labels": labels[:2]}, "3 distinct label names"),
        (classifier, {"labels": ["a", "a", "b"]}, "distinct label names"),
        (classifier, {"labels": labels, "doc_stride": 128}, r"unknown export setting\(s\) for a classification"),
        (classifier, {"labels": labels, "stride": 10}, "stride and tag_scheme describe tagging exports"),
        (classifier, {"labels": labels, "pooler_activation": "tanh"}, "the model's is 'gelu'"),
        (tagger, {"labels": tags, "text_column": "text"}, r"\['text_column'\]: settings of sentence classif"),
        (classifier, {"labels": labels, "max_seq_length": 512}, "max_position_embeddings=128"),
        (tagger, {"labels": tags, "stride": 127}, r"stride=127: must be an int in \[1, max_seq_length - 2 = 126\]"),
        (tagger, {"labels": tags, "tag_scheme": "IOB9"}, "tag_scheme='IOB9'"),
        (ElectraForSequenceClassification(_config(), 1), {"labels": ["score"]}, "regression model"),
    ]
    for model, settings, message in cases:
        with pytest.raises(ValueError, match=message):
            export_saved_model(model, target, vocab, **settings)
    assert not os.path.exists(target)


# ---- electra-export: the export follows the source's head --------------------------------------------------

def _model_directory(path, model, task: str, labels, **finetune) -> str:
    """What the fine-tuning tasks leave (CONTRACTS32 "Model directory"): metadata task, labels and finetune."""
    from electra.interop.store import save_model_directory
    record = {"glue_task": None, "max_seq_length": 64, "stride": None, "pooler_activation": None,
              "tag_scheme": None, "text_column": "sentence", "text_pair_column": None, **finetune}
    return save_model_directory(model, str(path), vocab_file=str(VOCAB_FILE), task=task, source="test",
                                extra={"labels": labels, "finetune": record})


@pytest.mark.slow
def test_cli_exports_a_classifier_model_directory(tmp_path, capsys):
    """Window, GLUE task and pooler activation come from the fine-tuning record; the run directory's ``model/``
    is found as for SQuAD."""
    from electra.commands.export import main

    model = ElectraForSequenceClassification(_config(), 3, pooler_activation="tanh")
    _model_directory(tmp_path / "run" / "model", model, "classification", NLI_LABELS, glue_task="mnli",
                     pooler_activation="tanh")
    assert main(["--init", str(tmp_path / "run"), "--output_dir", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"] == {"task": "classification", "num_labels": 3}
    assert result["settings"] == {"max_seq_length": 64, "do_lower_case": True, "labels": NLI_LABELS,
                                  "glue_task": "mnli", "pooler_activation": "tanh", "text_column": "sentence",
                                  "text_pair_column": None}
    settings = load_settings(result["saved_model"])
    assert settings["task"] == "classification" and settings["max_seq_length"] == 64
    assert (settings["stride"], settings["tag_scheme"], settings["pooler_activation"]) == (None, None, "tanh")
    inputs = _real_batch(64)
    _assert_parity(_serve(result["saved_model"], inputs), {"logits": model(inputs, training=False)["logits"].numpy()},
                   1e-5, LOGITS_NAMES)

    regressor = ElectraForSequenceClassification(_config(), 1)
    directory = _model_directory(tmp_path / "sts", regressor, "regression", None, glue_task="sts-b")
    assert main(["--init", directory, "--output_dir", str(tmp_path / "sts_out"), "--max_seq_length", "32"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"] == {"task": "regression", "num_labels": 1}
    assert load_settings(result["saved_model"])["labels"] is None
    assert not os.path.exists(os.path.join(result["saved_model"], "assets", "labels.json"))


def test_cli_exports_a_tagger_with_its_stride(tmp_path, capsys):
    from electra.commands.export import main

    model, tags = _build("tagging")
    directory = _model_directory(tmp_path / "model", model, "tagging", tags, stride=20, tag_scheme="BIO")
    assert main(["--init", directory, "--output_dir", str(tmp_path / "a"), "--formats", "saved_model,openvino"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"] == {"task": "tagging", "num_labels": len(tags)}
    assert {k: result["settings"][k] for k in ("max_seq_length", "stride", "tag_scheme")} == \
        {"max_seq_length": 64, "stride": 20, "tag_scheme": "BIO"}
    inputs = _real_batch(64)
    expected = {"logits": model(inputs, training=False)["logits"].numpy()}
    _assert_parity(_serve(result["saved_model"], inputs), expected, 1e-5, LOGITS_NAMES)
    (logits,) = _openvino_outputs(result["openvino"], inputs)
    _assert_parity({"logits": logits}, expected, 1e-4, LOGITS_NAMES)

    assert main(["--init", directory, "--output_dir", str(tmp_path / "b"), "--max_seq_length", "128",
                 "--stride", "50"]) == 0
    settings = load_settings(json.loads(capsys.readouterr().out)["saved_model"])
    assert (settings["max_seq_length"], settings["stride"]) == (128, 50)


def test_cli_refuses_what_a_classifier_export_cannot_take(tmp_path, capsys):
    from electra.commands.export import main
    from electra.interop.store import save_model_directory
    from electra.modeling import ElectraForQuestionAnswering

    classifier = ElectraForSequenceClassification(_config(), 3)
    good = _model_directory(tmp_path / "good", classifier, "classification", NLI_LABELS)
    mismatch = _model_directory(tmp_path / "mismatch", classifier, "tagging", NLI_LABELS)
    unnamed = _model_directory(tmp_path / "unnamed", classifier, "classification", None)
    tagger = _model_directory(tmp_path / "tagger", _build("tagging")[0], "tagging", NER_LABELS)
    squad = save_model_directory(ElectraForQuestionAnswering(_config()), str(tmp_path / "squad"),
                                 vocab_file=str(VOCAB_FILE), task="squad", source="test")
    run = tmp_path / "run"
    checkpoint = tf.train.Checkpoint(model={k: getattr(v, "value", v) for k, v in classifier.named_variables().items()})
    tf.train.CheckpointManager(checkpoint, str(run / "checkpoints"), max_to_keep=1,
                               checkpoint_name="ckpt").save(checkpoint_number=3)
    classifier.config.to_json_file(str(run / "model_config.json"))
    out = str(tmp_path / "out")
    cases = [
        ([good, "--doc_stride", "64"], "--doc_stride: not a setting of a classification export"),
        ([good, "--beam_size", "4"], "--beam_size: not a setting of a classification export"),
        ([good, "--stride", "10"], "--stride: not a setting of a classification export"),
        ([good, "--max_seq_length", "512"], "--max_seq_length=512: must be in [1, 128]"),
        ([tagger, "--stride", "63"], "--stride=63: must be in [1, --max_seq_length - 2 = 62]"),
        ([mismatch], "its weights hold a sequence classifier head, but metadata.json says task='tagging'"),
        ([unnamed], "a classification model whose metadata.json has no label names"),
        ([str(run), "--vocab_file", str(VOCAB_FILE)], "a checkpoint with a sequence classifier head but no record"),
        ([squad, "--stride", "10"], "--stride: the windows of a tagging export"),
    ]
    for (init, *flags), message in cases:
        assert main(["--init", init, "--output_dir", out] + flags) == 2, flags
        assert message in capsys.readouterr().err, (init, flags)
    assert not os.path.exists(out) or not os.listdir(out)


# ---- serving from the export alone (electra.serving) -------------------------------------------------------

def _real_sentences() -> list[list[str]]:
    """Real sentences as words: SQuAD questions (short) and paragraphs (longer than a 32-token window)."""
    return [words for question, context in _real_texts() for words in (question.split(), context.split()[:60])]


def test_predictor_answers_from_the_export_alone(exported):
    """``load_predictor`` picks the predictor by the export's task and answers as the model in memory does."""
    from electra.serving import ClassifierPredictor, TaggerPredictor, load_predictor

    kind, model, export_dir, _, _ = exported
    served = load_predictor(export_dir)
    tokenizer = load_tokenizer(VOCAB_FILE)
    if kind == "tagging":
        assert isinstance(served, TaggerPredictor) and (served.labels, served.stride) == (NER_LABELS, 40)
        sentences = _real_sentences()
        in_memory = TaggerPredictor.from_model(model, tokenizer, labels=NER_LABELS, stride=40)
        assert served.predict(sentences) == in_memory.predict(sentences)
        return
    assert isinstance(served, ClassifierPredictor) and served.labels == NLI_LABELS
    in_memory = ClassifierPredictor.from_model(model, tokenizer, labels=NLI_LABELS)
    questions, contexts = zip(*_real_texts())
    got = served.predict(questions, contexts)
    want = in_memory.predict(questions, contexts)
    assert [r["label"] for r in got] == [r["label"] for r in want]
    for g, w in zip(got, want):
        assert list(g["probabilities"]) == NLI_LABELS and abs(sum(g["probabilities"].values()) - 1) < 1e-6
        assert g["label"] == max(g["probabilities"], key=g["probabilities"].get)
        np.testing.assert_allclose(list(g["probabilities"].values()), list(w["probabilities"].values()), atol=1e-5)
    spread = np.ptp([list(r["probabilities"].values()) for r in got], axis=0)
    assert spread.max() > 1e-3                          # each text is read: the answers differ
    single = served.predict(questions[:1])[0]["probabilities"]
    assert abs(single[NLI_LABELS[0]] - got[0]["probabilities"][NLI_LABELS[0]]) > 1e-4   # the pair's second text too
    for texts, pairs, message in [(["fine", " "], None, "item 1: 'text' is empty"),
                                  (["fine"], [3], "item 0: 'text_pair' must be a string"),
                                  (["a", "b"], ["c"], "2 texts but 1 text pairs")]:
        with pytest.raises(ValueError, match=message):
            served.predict(texts, pairs)


def test_regression_export_has_no_labels_and_serves_scores(tmp_path):
    from electra.serving import ClassifierPredictor, load_predictor

    model = ElectraForSequenceClassification(_config(), 1, pooler_activation="tanh")
    export_dir = export_saved_model(model, str(tmp_path / "sm"), str(VOCAB_FILE), max_seq_length=64,
                                    glue_task="sts-b")
    settings = load_settings(export_dir)
    assert settings["task"] == "regression" and settings["labels"] is None and settings["glue_task"] == "sts-b"
    assert not os.path.exists(os.path.join(export_dir, "assets", "labels.json"))
    inputs = _real_batch(64)
    _assert_parity(_serve(export_dir, inputs), {"logits": model(inputs, training=False)["logits"].numpy()}, 1e-5,
                   LOGITS_NAMES)
    questions, contexts = zip(*_real_texts())
    got = load_predictor(export_dir).predict(questions, contexts)
    want = ClassifierPredictor.from_model(model, load_tokenizer(VOCAB_FILE), max_seq_length=64).predict(
        questions, contexts)
    assert all(set(r) == {"score"} for r in got)
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in want], atol=1e-5)


def test_tagger_predictor_merges_windows_back_to_words(tmp_path):
    """A 32-token window with stride 10: the paragraphs span several windows; every word gets one tag, the same
    as the model in memory gives, and a sentence inside one window gets its first sub-tokens' argmax."""
    from electra.serving import TaggerPredictor, load_predictor

    model, tags = _build("tagging", seed=4)
    export_dir = export_saved_model(model, str(tmp_path / "sm"), str(VOCAB_FILE), labels=tags, max_seq_length=32,
                                    stride=10, tag_scheme="BIO")
    served = load_predictor(export_dir)
    assert isinstance(served, TaggerPredictor) and served.stride == 10
    tokenizer = load_tokenizer(VOCAB_FILE)
    in_memory = TaggerPredictor.from_model(model, tokenizer, labels=tags, max_seq_length=32, stride=10)
    sentences = _real_sentences()
    assert max(sum(len(tokenizer.encode(w)) for w in s) for s in sentences) > 3 * 30
    got = served.predict(sentences + [[]])
    assert got == in_memory.predict(sentences + [[]])
    assert [r["words"] for r in got] == sentences + [[]] and got[-1]["tags"] == []
    assert all(len(r["tags"]) == len(r["words"]) and set(r["tags"]) <= set(tags) for r in got)
    assert len({t for r in got for t in r["tags"]}) > 2
    assert served.predict([" ".join(sentences[1])]) == [got[1]]

    question = sentences[0]                     # one window: [CLS] sub-tokens [SEP]
    pieces = [tokenizer.encode(w) for w in question]
    ids = [tokenizer.cls_id] + [i for p in pieces for i in p] + [tokenizer.sep_id]
    first = np.cumsum([1] + [len(p) for p in pieces[:-1]])
    inputs = {"input_ids": np.array([ids + [0] * (32 - len(ids))], np.int32),
              "input_mask": np.array([[1] * len(ids) + [0] * (32 - len(ids))], np.int32),
              "segment_ids": np.zeros((1, 32), np.int32)}
    logits = model(inputs, training=False)["logits"].numpy()[0]
    assert got[0]["tags"] == [tags[k] for k in np.argmax(logits[first], axis=-1)]
    with pytest.raises(ValueError, match="item 0: a sentence is a string or a list of non-empty words"):
        served.predict([["fine", ""]])
    from electra.serving import ClassifierPredictor
    with pytest.raises(ValueError, match="ClassifierPredictor serves classification / regression exports, not "
                                         "task='tagging'"):
        ClassifierPredictor.from_export(export_dir)


def _hf_directory(path, head: dict[str, tuple[int, ...]], **config) -> str:
    """A Hugging Face directory: an encoder's safetensors plus ``head`` tensors (name → shape), config extras."""
    from electra.interop.hf import read_safetensors, save_hf_electra, write_safetensors

    save_hf_electra(ElectraForSequenceClassification(_config(), 2), str(path))
    tensors = {k: v for k, v in read_safetensors(str(path / "model.safetensors")).items()
               if not k.startswith("classifier.")}
    tensors.update({name: np.zeros(shape, np.float32) for name, shape in head.items()})
    write_safetensors(tensors, str(path / "model.safetensors"), {"format": "pt"})
    hf = {k: v for k, v in json.loads((path / "config.json").read_text()).items()
          if k not in ("id2label", "label2id", "problem_type", "architectures")}
    (path / "config.json").write_text(json.dumps({**hf, **config}))
    return str(path)


def test_hugging_face_classifier_heads_are_recognised(tmp_path):
    """The head's kind from the tensors, labels and regression from config.json as transformers reads them."""
    from electra.export import classifier_head
    from electra.interop.store import resolve_source

    sequence = {"classifier.dense.weight": (32, 32), "classifier.dense.bias": (32,),
                "classifier.out_proj.weight": (3, 32), "classifier.out_proj.bias": (3,)}
    cases = [
        (sequence, {"id2label": {"0": "contradiction", "1": "entailment", "2": "neutral"}},
         {"task": "classification", "num_labels": 3, "labels": NLI_LABELS}),
        ({**sequence, "classifier.out_proj.weight": (1, 32), "classifier.out_proj.bias": (1,)},
         {"id2label": {"0": "LABEL_0"}}, {"task": "regression", "num_labels": 1, "labels": None}),
        ({"classifier.weight": (2, 32), "classifier.bias": (2,)}, {"id2label": {"1": "O", "0": "B-PER"}},
         {"task": "tagging", "num_labels": 2, "labels": ["B-PER", "O"]}),
        ({}, {}, None),
    ]
    for i, (head, config, expected) in enumerate(cases):
        found = classifier_head(resolve_source(f"hf:{_hf_directory(tmp_path / str(i), head, **config)}"))
        assert (found if found is None else {k: found[k] for k in ("task", "num_labels", "labels")}) == expected, i
    multi = _hf_directory(tmp_path / "multi", sequence, id2label={str(i): f"t{i}" for i in range(3)},
                          problem_type="regression")
    with pytest.raises(ValueError, match="a regression head of 3 targets; one target is served"):
        classifier_head(resolve_source(multi))


@pytest.mark.parametrize("folder, kind, output", [("hf_sequence_classification", "classification", "sequence_logits"),
                                                  ("hf_token_classification", "tagging", "token_logits")])
def test_cli_exports_transformers_classifiers_with_their_logits(folder, kind, output, parity_dir, tmp_path, capsys):
    """Files written by transformers (tests/fixtures/make_finetuning_fixtures.py): the export serves the logits
    transformers computed, with the config's id2label as labels."""
    from electra.commands.export import main

    finetuning = parity_dir / "finetuning"
    expected = dict(np.load(finetuning / "logits.npz"))
    labels = json.loads((finetuning / "provenance.json").read_text())["labels"][output.split("_")[0]]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                             + [f"w{i}" for i in range(95)]))
    length = expected["input_ids"].shape[1]
    assert main(["--init", f"hf:{finetuning / folder}", "--output_dir", str(tmp_path / "out"), "--vocab_file",
                 str(vocab), "--max_seq_length", str(length)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["source_kind"] == "hf" and result["head"] == {"task": kind, "num_labels": len(labels)}
    settings = load_settings(result["saved_model"])
    assert settings["task"] == kind and settings["labels"] == labels and settings["max_seq_length"] == length
    inputs = {k: expected[k] for k in INPUT_NAMES}
    _assert_parity(_serve(result["saved_model"], inputs), {"logits": expected[output]}, 1e-5, LOGITS_NAMES)
