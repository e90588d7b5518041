"""SavedModel export of a fine-tuned model with its serving signature, and OpenVINO IR / ONNX files converted from
it. One path serves every task; what differs is the outputs and the settings asset.

``serving_default``: inputs ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[batch, max_seq_length]``
(batch dynamic) → outputs float32:

* SQuAD (``ElectraForQuestionAnswering``; the OpenVINO BERT-SQuAD contract, 384 by default): ``start_logits``,
  ``end_logits`` ``[batch, max_seq_length]``; settings in ``assets/squad_settings.json``;
* sentence classification / regression (``ElectraForSequenceClassification``; electra-finetune's window, 128,
  by default): ``logits`` ``[batch, num_labels]`` (one column for regression); token tagging
  (``ElectraForTokenClassification``): ``logits`` ``[batch, max_seq_length, num_labels]``. Settings in
  ``assets/task_settings.json`` (``task``: ``classification`` | ``regression`` | ``tagging``,
  ``max_seq_length``, ``do_lower_case``, ``labels``, ``stride``, ``tag_scheme`` (tagging), ``glue_task``,
  ``pooler_activation``, ``text_column``, ``text_pair_column`` (sentences; null when not known),
  ``model_config``, ``vocab_file``) and the label names, in logit order, in ``assets/labels.json`` (a JSON list;
  absent for regression).

The vocabulary travels as an asset too, so ``electra.squad.inference.SavedModelPredictor`` and
``electra.serving`` answer from the SavedModel alone.

Every SQuAD head serves that contract. A model whose decoder needs more adds a second signature, with the same
inputs:

* joint head: ``beam`` → ``start_top_log_probs`` float32 ``[batch, K]``, ``start_top_index`` int32 ``[batch, K]``,
  ``end_top_log_probs`` float32 ``[batch, K, K]``, ``end_top_index`` int32 ``[batch, K, K]`` and, with the
  answer class, ``answerable_logits`` float32 ``[batch]`` (``K`` = the model's ``beam_size``); its
  ``serving_default`` end logits are those given the top start;
* plain head with the answerability classifier: ``answerability`` → ``start_logits``, ``end_logits`` and
  ``answerable_logits``.

``squad_settings.json`` records the head as ``"head": {"joint", "beam_size", "answerability", "signature"}``
(``electra.modeling.heads.QAHead``; ``signature``: the one the decoder reads), and the SQuAD settings: those of
``electra.configs.SquadData`` / ``Decoding`` (run_squad's), read from the run that is exported (``export_model``).

The SavedModel is written by ``keras.export.ExportArchive``, not by ``tf.saved_model.save`` of a ``tf.Module``
holding the Keras model: the latter saves the Keras 3 variables as objects that the graph-mode loaders (TF
Serving, ``saved_model_cli run``, ``tf.compat.v1.saved_model.loader``) restore into variables the serving graph
never reads (``Could not find variable electra/layer_0/...``), and that OpenVINO cannot resolve
(tensorflow/tensorflow#72963, keras-team/keras#20095, tensorflow/serving#2226). ``ExportArchive`` saves the
``tf.Variable`` objects that the traced endpoint captures, so every loader sees one set of variables.

Output order: a SavedModel signature maps names to tensors and has no order; consumers that number outputs
(``saved_model_cli``, ``openvino.convert_model``, tf2onnx) list them sorted by name, i.e. ``end_logits``
first. ``export_openvino`` and ``export_onnx`` write files whose outputs are in ``output_names`` order: output 0
``start_logits`` and output 1 ``end_logits`` (the BERT-SQuAD contract), or the one ``logits``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import tensorflow as tf

from electra.configs import Decoding, FinetuneData, SquadData
from electra.io import atomic_directory, atomic_path, storing, temporary_path, write_json
from electra.modeling.heads import QAHead

SETTINGS_NAME = "squad_settings.json"
TASK_SETTINGS_NAME, LABELS_NAME = "task_settings.json", "labels.json"
DATA_SETTINGS = ("max_seq_length", "doc_stride", "max_query_length", "do_lower_case", "version_2_with_negative")
DECODING_SETTINGS = ("n_best_size", "max_answer_length", "null_score_diff_threshold")
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
OUTPUT_NAMES = ("start_logits", "end_logits")
LOGITS_NAMES = ("logits",)
CLASSIFIER_TASKS = ("classification", "regression", "tagging")
TAG_SCHEMES = ("BIO", "BIOES", "none")
TASK_SETTINGS = ("max_seq_length", "do_lower_case", "labels", "stride", "glue_task", "tag_scheme",
                 "pooler_activation", "text_column", "text_pair_column")
SENTENCE_SETTINGS = ("glue_task", "pooler_activation", "text_column", "text_pair_column")
CLASSIFIER_MAX_SEQ_LENGTH = FinetuneData().max_seq_length      # electra-finetune's window
SIGNATURE = "serving_default"
BEAM_SIGNATURE, ANSWERABILITY_SIGNATURE = "beam", "answerability"
BEAM_OUTPUT_NAMES = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index")
OPENVINO_NAME = "model.xml"
STAGED_ASSETS = "assets.staged"


def input_signature(max_seq_length: int) -> list[tf.TensorSpec]:
    """The three int32 ``[None, max_seq_length]`` inputs, in ``INPUT_NAMES`` order."""
    return [tf.TensorSpec([None, max_seq_length], tf.int32, name=name) for name in INPUT_NAMES]


def output_names(model) -> tuple[str, ...]:
    """What ``serving_default`` returns for ``model``: ``OUTPUT_NAMES`` for a SQuAD model, else ``LOGITS_NAMES``."""
    return OUTPUT_NAMES if hasattr(model, "qa_head") else LOGITS_NAMES


def served_outputs(settings: dict) -> tuple[str, ...]:
    """``output_names`` of the model an export's ``load_settings`` describe."""
    return LOGITS_NAMES if "task" in settings else OUTPUT_NAMES


def classifier_task(model) -> str:
    """``tagging`` for an ``ElectraForTokenClassification``; for an ``ElectraForSequenceClassification``
    ``regression`` when it has one logit, else ``classification``."""
    from electra.modeling import ElectraForSequenceClassification, ElectraForTokenClassification
    if isinstance(model, ElectraForTokenClassification):
        return "tagging"
    if isinstance(model, ElectraForSequenceClassification):
        return "regression" if model.num_labels == 1 else "classification"
    raise TypeError(f"{type(model).__name__} is neither a SQuAD model nor a sentence classifier or tagger")


def default_stride(max_seq_length: int) -> int:
    """A tagging export's stride when none is recorded: windows overlap by half their sub-tokens."""
    return max(1, (max_seq_length - 2) // 2)


def serving_fn(model, max_seq_length: int):
    """``(input_ids, input_mask, segment_ids) -> {name: output}`` for ``output_names(model)``: SQuAD's
    ``start_logits``, ``end_logits`` ``[batch, L]``, or a classifier's ``logits`` (``[batch, num_labels]``,
    ``[batch, L, num_labels]`` for tagging).

    ``tf.ensure_shape`` makes the graph itself refuse another sequence length, since a restored signature
    called eagerly does not compare input shapes with the signature, and a C++ client (TF Serving) feeds the
    placeholders without the Python client's shape check. The failure names the input and the shape:
    ``Shape of tensor input_ids [1,128] is not compatible with expected shape [?,384]`` (eager), or
    ``... expected shape [?,384]. [[{{node input_ids_shape}}]]`` (graph). OpenVINO and tf2onnx convert it.
    """
    return _endpoint(model, max_seq_length, output_names(model))


def _endpoint(model, max_seq_length: int, names):
    def serve(input_ids, input_mask, segment_ids):
        features = {name: tf.ensure_shape(tensor, [None, max_seq_length], name=f"{name}_shape")
                    for name, tensor in zip(INPUT_NAMES, (input_ids, input_mask, segment_ids))}
        outputs = model(features, training=False)
        return {name: tf.identity(outputs[name] if outputs[name].dtype.is_integer else
                                  tf.cast(outputs[name], tf.float32), name=name) for name in names}

    return serve


def default_settings() -> dict:
    """The SQuAD settings an export records, at run_squad's defaults (``SquadData``, ``Decoding``);
    ``do_lower_case`` None: the tokenizer's own."""
    data, decoding = SquadData(), Decoding()
    return {**{name: getattr(data, name) for name in DATA_SETTINGS},
            **{name: getattr(decoding, name) for name in DECODING_SETTINGS}}


def signature_of(head: QAHead) -> str:
    """The signature whose outputs ``head``'s decoder reads."""
    return BEAM_SIGNATURE if head.joint else ANSWERABILITY_SIGNATURE if head.answerability else SIGNATURE


def export_head(settings: dict) -> QAHead:
    """The head an export serves, from its ``load_settings``."""
    return QAHead.from_record(settings["head"])


def decoding_fn(model, max_seq_length: int):
    """``(signature name, function)`` of the second signature ``model`` needs (see the module docstring), or
    ``None`` for a plain head without the answerability classifier."""
    head = model.qa_head
    if head.joint:
        names = BEAM_OUTPUT_NAMES + (("answerable_logits",) if head.answerability else ())
    elif head.answerability:
        names = OUTPUT_NAMES + ("answerable_logits",)
    else:
        return None
    return signature_of(head), _endpoint(model, max_seq_length, names)


def _common_settings(model, vocab_file: str, values: dict) -> dict:
    """Checks every export makes: the vocabulary exists, ``max_seq_length`` fits the model; ``do_lower_case``
    None becomes the tokenizer's own."""
    if not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"vocabulary file not found: {vocab_file}")
    if values["do_lower_case"] is None:
        from electra.tokenization import load_tokenizer
        values["do_lower_case"] = load_tokenizer(vocab_file).lower_case
    length, positions = values["max_seq_length"], model.config.max_position_embeddings
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"max_seq_length must be a positive int, got {length!r}")
    if length > positions:
        raise ValueError(f"max_seq_length={length} exceeds the model's max_position_embeddings={positions}")
    return values


def _settings(model, vocab_file: str, settings: dict) -> dict:
    defaults = default_settings()
    unknown = set(settings) - set(defaults)
    if unknown:
        raise ValueError(f"unknown export setting(s): {sorted(unknown)}")
    values = _common_settings(model, vocab_file, {**defaults, **settings})
    length = values["max_seq_length"]
    head = model.qa_head
    if head.joint and values["version_2_with_negative"] and not head.answerability:
        raise ValueError("version_2_with_negative=True needs the joint head's answer class (a model built with "
                         "answerability=True): the beam decoder has no other no-answer score")
    if head.joint and head.beam_size > length:
        raise ValueError(f"the joint head's beam_size={head.beam_size} exceeds max_seq_length={length}")
    return values


def _task_settings(model, vocab_file: str, settings: dict) -> dict:
    """A classifier's or tagger's ``task_settings.json`` values (without ``model_config`` / ``vocab_file``)."""
    task = classifier_task(model)
    unknown = set(settings) - set(TASK_SETTINGS)
    if unknown:
        raise ValueError(f"unknown export setting(s) for a {task} model: {sorted(unknown)} (known: "
                         f"{list(TASK_SETTINGS)})")
    values = _common_settings(model, vocab_file, {**dict.fromkeys(TASK_SETTINGS),
                                                  "max_seq_length": CLASSIFIER_MAX_SEQ_LENGTH, **settings})
    labels, length = values["labels"], values["max_seq_length"]
    if task == "regression":
        if labels is not None:
            raise ValueError(f"labels={labels!r}: a regression model (one logit) has no label names")
    elif (not isinstance(labels, (list, tuple)) or len(labels) != model.num_labels
          or not all(isinstance(n, str) and n for n in labels) or len(set(labels)) != len(labels)):
        raise ValueError(f"labels={labels!r}: give the {task} model's {model.num_labels} distinct label names, in "
                         f"logit order")
    else:
        values["labels"] = list(labels)
    if task == "tagging":
        values["stride"] = default_stride(length) if values["stride"] is None else values["stride"]
        if not isinstance(values["stride"], int) or not 1 <= values["stride"] <= max(1, length - 2):
            raise ValueError(f"stride={values['stride']!r}: must be an int in [1, max_seq_length - 2 = {length - 2}]")
        if values["tag_scheme"] not in TAG_SCHEMES + (None,):
            raise ValueError(f"tag_scheme={values['tag_scheme']!r}: one of {list(TAG_SCHEMES)} or None")
        given = [name for name in SENTENCE_SETTINGS if values[name] is not None]
        if given:
            raise ValueError(f"{given}: settings of sentence classification, not of a tagging model")
    elif values["stride"] is not None or values["tag_scheme"] is not None:
        raise ValueError(f"stride and tag_scheme describe tagging exports, not a {task} model")
    else:
        if values["pooler_activation"] not in (None, model.pooler_activation):
            raise ValueError(f"pooler_activation={values['pooler_activation']!r}: the model's is "
                             f"{model.pooler_activation!r}")
        values["pooler_activation"] = model.pooler_activation
    return {"task": task, **values}


def export_saved_model(model, export_dir: str, vocab_file: str, **settings) -> str:
    """Write the SavedModel of ``model`` to ``export_dir`` (written beside it, then renamed over it, so a reader
    never sees a half-written export). Returns ``export_dir`` (absolute).

    A SQuAD model (``ElectraForQuestionAnswering``): ``settings`` override ``default_settings()``; the head (joint
    or plain, ``beam_size``, answerability) is the model's own, recorded under ``"head"``; a joint model exported
    for v2 must have the answer class. A classifier or tagger: ``settings`` are ``TASK_SETTINGS``: ``labels`` (its
    ``num_labels`` names in logit order; None for regression), ``max_seq_length`` (default: electra-finetune's),
    ``do_lower_case``; for tagging ``stride`` (default ``default_stride``) and ``tag_scheme``; for sentences
    ``glue_task``, ``pooler_activation`` (the model's own), ``text_column``, ``text_pair_column`` (what a predict
    path reads from a table). All are recorded in ``task_settings.json``; the task comes from the model's class.
    Unknown keys are an error."""
    import keras

    squad = hasattr(model, "qa_head")
    values = _settings(model, vocab_file, settings) if squad else _task_settings(model, vocab_file, settings)
    record = {**values, "vocab_file": os.path.basename(vocab_file), "model_config": model.config.to_dict()}
    if squad:
        record["head"] = {**model.qa_head.record(), "signature": signature_of(model.qa_head)}
    length = int(values["max_seq_length"])
    export_dir = os.path.abspath(export_dir)
    with atomic_path(export_dir) as target:
        files = os.path.join(target, STAGED_ASSETS)       # inside the export being written: removed with it
        for directory in (files, os.path.join(target, "assets"), os.path.join(target, "variables")):
            os.makedirs(directory)    # made here: TensorFlow makes directories 0755 less the umask, not 0777 less it
        assets = {"vocab_file": os.path.join(files, os.path.basename(vocab_file)),
                  "settings_file": write_json(os.path.join(files, SETTINGS_NAME if squad else TASK_SETTINGS_NAME),
                                              record)}
        shutil.copyfile(vocab_file, assets["vocab_file"])
        if not squad and values["labels"] is not None:
            assets["labels_file"] = write_json(os.path.join(files, LABELS_NAME), values["labels"])
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serving_fn(model, length), input_signature=input_signature(length))
        second = decoding_fn(model, length) if squad else None   # after "serve": serving_default is the first
        if second is not None:
            archive.add_endpoint(second[0], second[1], input_signature=input_signature(length))
        _attach_assets(archive, **assets)
        with contextlib.redirect_stdout(io.StringIO()):
            archive.write_out(target, verbose=False)
        shutil.rmtree(files)
    return export_dir


def _attach_assets(archive, **paths: str) -> None:
    """Attach files as ``tf.saved_model.Asset``s so they are copied into ``assets/`` and recorded in the
    MetaGraph (a loader relocates them). ``ExportArchive`` has no public call for assets; what it saves is its
    ``_tf_trackable``."""
    root = getattr(archive, "_tf_trackable", None)
    if root is None:
        raise RuntimeError("this Keras version's ExportArchive has no _tf_trackable to attach assets to")
    for name, path in paths.items():
        setattr(root, name, tf.saved_model.Asset(path))


def load_export_tokenizer(export_dir: str):
    """``(settings, tokenizer)`` of an export: its settings asset and the vocabulary beside it, lower-cased as
    recorded (what every predictor from an export starts with)."""
    from electra.tokenization import load_tokenizer
    if not os.path.isdir(export_dir):
        raise FileNotFoundError(f"SavedModel directory not found: {export_dir}")
    settings = load_settings(export_dir)
    return settings, load_tokenizer(os.path.join(export_dir, "assets", settings["vocab_file"]),
                                    lower_case=settings["do_lower_case"])


def load_settings(export_dir: str) -> dict:
    """An export's settings asset: ``squad_settings.json``, or ``task_settings.json`` (the one with ``"task"``)."""
    for name in (SETTINGS_NAME, TASK_SETTINGS_NAME):
        path = os.path.join(export_dir, "assets", name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
    raise FileNotFoundError(f"{export_dir}: no assets/{SETTINGS_NAME} or assets/{TASK_SETTINGS_NAME}: not a "
                            f"SavedModel written by electra's export")


def _copy_assets(saved_model_dir: str, out_dir: str) -> None:
    assets = os.path.join(saved_model_dir, "assets")
    if os.path.isdir(assets):
        for name in os.listdir(assets):
            shutil.copyfile(os.path.join(assets, name), os.path.join(out_dir, name))


def export_openvino(saved_model_dir: str, out_dir: str) -> str:
    """Convert the SavedModel to OpenVINO IR in ``out_dir`` (``model.xml`` + ``model.bin``, fp32 weights, plus a
    copy of the other assets: vocabulary, settings, labels); returns the ``.xml`` path.

    ``openvino.convert_model`` of the SavedModel lists the outputs as the signature sorts them
    (``end_logits``, ``start_logits``); the IR written here has results in ``output_names`` order
    (``[start_logits, end_logits]``, or ``[logits]``) and the inputs ``input_ids``, ``input_mask``,
    ``segment_ids`` ``[?, max_seq_length]`` int32. Weights stay fp32
    (``compress_to_fp16=False``); on CPUs with AMX or AVX512_BF16 the CPU plugin computes in bf16 unless compiled
    with ``{"INFERENCE_PRECISION_HINT": "f32"}``.
    """
    import openvino as ov

    disable_openvino_telemetry()
    names = served_outputs(load_settings(saved_model_dir))
    converted = ov.convert_model(os.path.abspath(saved_model_dir))
    model = ov.Model(_ordered(converted.get_results(), lambda r: r.output(0).get_names(), "OpenVINO results", names),
                     converted.get_parameters(), converted.get_friendly_name())
    missing = [n for n in INPUT_NAMES if not any(n in p.output(0).get_names() for p in model.get_parameters())]
    if missing:
        raise RuntimeError(f"OpenVINO conversion lost input name(s) {missing}")
    out_dir = os.path.abspath(out_dir)
    with atomic_directory(out_dir) as target:
        ov.save_model(model, os.path.join(target, OPENVINO_NAME), compress_to_fp16=False)
        _copy_assets(saved_model_dir, target)
    return os.path.join(out_dir, OPENVINO_NAME)


def disable_openvino_telemetry() -> None:
    """Turn off, for this process, the usage telemetry that ``openvino.convert_model`` sends by default.

    It forks a process per event from worker threads; a main thread importing a module meanwhile (TensorFlow,
    here) deadlocks on the import and logging locks, and offline machines gain nothing from it. The user's
    global choice (``opt_in_out``) is left as it is.
    """
    try:
        from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry
    except ImportError:
        return
    telemetry = init_ovc_telemetry()
    if hasattr(telemetry, "consent"):
        telemetry.consent = False


def _ordered(items, names_of, what: str, names: tuple[str, ...]) -> list:
    by_name = {}
    for item in items:
        for name in names_of(item):
            by_name.setdefault(name, item)
    missing = [n for n in names if n not in by_name]
    if missing or len(items) != len(names):
        raise RuntimeError(f"{what}: expected outputs {list(names)}, found {sorted(by_name)}")
    return [by_name[n] for n in names]


def export_onnx(source, out_path: str, max_seq_length: int | None = None, opset: int = 17) -> str:
    """Convert a SavedModel directory (its ``serving_default``) or an in-memory model (SQuAD, classifier or
    tagger) to ONNX with tf2onnx; returns ``out_path``.

    Graph inputs ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[batch, L]``; graph outputs, in
    ``output_names`` order, float32: ``start_logits`` and ``end_logits`` ``[batch, L]``, or ``logits``. ``L`` is
    the export's ``max_seq_length`` (from its settings) for a directory, ``max_seq_length`` for a model (default
    384 for SQuAD, 128 for a classifier or tagger).
    """
    import onnx
    import tf2onnx

    loaded = None
    if isinstance(source, (str, os.PathLike)):
        source = os.fspath(source)
        settings = load_settings(source)
        length, names = int(settings["max_seq_length"]), served_outputs(settings)
        if max_seq_length is not None and max_seq_length != length:
            raise ValueError(f"{source} was exported with max_seq_length={length}, not {max_seq_length}")
        loaded = tf.saved_model.load(source)
        function = loaded.signatures[SIGNATURE]
        wrapped = tf.function(lambda input_ids, input_mask, segment_ids: function(
            input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids), autograph=False)
    else:
        names = output_names(source)
        length = int(max_seq_length or (SquadData().max_seq_length if names == OUTPUT_NAMES
                                        else CLASSIFIER_MAX_SEQ_LENGTH))
        if length > source.config.max_position_embeddings:
            raise ValueError(f"max_seq_length={length} exceeds the model's max_position_embeddings="
                             f"{source.config.max_position_embeddings}")
        wrapped = tf.function(serving_fn(source, length), autograph=False)
    proto, _ = tf2onnx.convert.from_function(wrapped, input_signature=input_signature(length), opset=opset)
    del wrapped, loaded
    outputs = _ordered(list(proto.graph.output), lambda o: [o.name], "ONNX graph outputs", names)
    del proto.graph.output[:]
    proto.graph.output.extend(outputs)
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    found = [i.name for i in proto.graph.input]
    if found != list(INPUT_NAMES):
        raise RuntimeError(f"ONNX graph inputs are {found}, expected {list(INPUT_NAMES)}")
    onnx.checker.check_model(proto)
    out_path = os.path.abspath(out_path)
    with atomic_path(out_path) as target:
        onnx.save(proto, target)
    return out_path


def run_settings(source) -> dict:
    """The SQuAD settings (``DATA_SETTINGS``, ``DECODING_SETTINGS``, ``beam_size``) of the run_squad run that wrote
    ``source`` (an ``electra.interop.store.ModelSource``), from the config its ``run_info.json`` records: the run
    directory of a training checkpoint, or the parent of a model directory (``<run>/model``, ``<run>/best``).
    {} when the weights come from elsewhere."""
    from electra.interop.store import MODEL_DIRECTORY, RUN_INFO_NAME, TRAINING, read_run_info
    run = source.metadata.get("run_dir") if source.kind == TRAINING else \
        os.path.dirname(source.path) if source.kind == MODEL_DIRECTORY else None
    info = read_run_info(run) if run and os.path.isfile(os.path.join(run, RUN_INFO_NAME)) else {}
    if info.get("task") != "squad":
        return {}
    config = info.get("config") or {}
    names = {"data": DATA_SETTINGS, "decoding": DECODING_SETTINGS + ("beam_size",)}
    return {name: config[group][name] for group, group_names in names.items() for name in group_names
            if name in config.get(group, {})}


def classifier_head(source) -> dict | None:
    """The sentence classifier or tagger ``source`` (an ``electra.interop.store.ModelSource``) holds, with what an
    export needs: ``{"task", "num_labels", "labels", "finetune"}``; None when its weights hold no classifier.

    The head's kind is the weights' (``source.architecture``: ``sequence_classification`` /
    ``token_classification``); the label names and fine-tuning settings come from a model directory's metadata
    (``task``, ``labels``, ``finetune``) or a Hugging Face ``config.json`` (``id2label``; regression when
    ``problem_type`` says so or with one label, as transformers decides). A ``ValueError`` when the record
    contradicts the weights or lacks the names, or for a kind of source that records no labels (a training
    checkpoint: its run's model directory does)."""
    from electra.interop.hf import CLASSIFIERS, TOKEN_CLASSIFICATION
    from electra.interop.store import HUGGING_FACE, MODEL_DIRECTORY

    if source.architecture not in CLASSIFIERS:
        return None
    kind = "token" if source.architecture == TOKEN_CLASSIFICATION else "sequence"
    metadata, finetune = source.metadata, {}
    labels = metadata.get("labels")
    if source.kind == MODEL_DIRECTORY:
        task, finetune = metadata.get("task"), metadata.get("finetune") or {}
        if task not in CLASSIFIER_TASKS or (task == "tagging") != (kind == "token"):
            expected = "tagging" if kind == "token" else "classification or regression"
            raise ValueError(f"{source.path}: its weights hold a {kind} classifier head, but metadata.json says "
                             f"task={task!r} (expected {expected})")
    elif source.kind == HUGGING_FACE:
        count = len(labels or ())
        regression = kind == "sequence" and (metadata.get("problem_type") == "regression" or count == 1)
        if regression and count != 1:
            raise ValueError(f"{source.path}: a regression head of {count} targets; one target is served")
        task = "tagging" if kind == "token" else "regression" if regression else "classification"
    else:
        raise ValueError(f"{source.path}: a checkpoint with a {kind} classifier head but no record of its label "
                         f"names; export the model directory its run wrote (<run>/model or <run>/best)")
    if task == "regression":
        return {"task": task, "num_labels": 1, "labels": None, "finetune": finetune}
    if not isinstance(labels, list) or not labels:
        where = "metadata.json" if source.kind == MODEL_DIRECTORY else "config.json (id2label)"
        raise ValueError(f"{source.path}: a {task} model whose {where} has no label names")
    return {"task": task, "num_labels": len(labels), "labels": labels, "finetune": finetune}


def _check_length(length: int, config) -> None:
    if not 1 <= length <= config.max_position_embeddings:
        raise ValueError(f"--max_seq_length={length}: must be in [1, {config.max_position_embeddings}] (the model's "
                         f"max_position_embeddings)")


def _classifier_model(config, head: dict, given: dict, named: str):
    """The model and export settings of a classifier or tagger source (``classifier_head``'s ``head``): flags
    first, then the fine-tuning record, then the defaults. A SQuAD-only flag is an error, ``--stride`` too
    outside tagging."""
    from electra.modeling import ElectraForSequenceClassification, ElectraForTokenClassification

    task, finetune = head["task"], head["finetune"]
    tagging = task == "tagging"
    for name in given:
        if name not in ("max_seq_length", "do_lower_case") + (("stride",) if tagging else ()):
            raise ValueError(f"--{name}: not a setting of a {task} export ({named} holds a {task} model); it "
                             f"takes --max_seq_length, --do_lower_case" + (", --stride" if tagging else ""))
    length = given.get("max_seq_length") or finetune.get("max_seq_length") or CLASSIFIER_MAX_SEQ_LENGTH
    _check_length(length, config)
    values = {"max_seq_length": length, "do_lower_case": given.get("do_lower_case"), "labels": head["labels"]}
    if tagging:
        values["stride"] = given.get("stride") or finetune.get("stride") or default_stride(length)
        values["tag_scheme"] = finetune.get("tag_scheme")
        if not 1 <= values["stride"] <= max(1, length - 2):
            raise ValueError(f"--stride={values['stride']}: must be in [1, --max_seq_length - 2 = {length - 2}]")
        model = ElectraForTokenClassification(config, head["num_labels"])
    else:
        values.update({name: finetune.get(name) for name in SENTENCE_SETTINGS})
        model = ElectraForSequenceClassification(config, head["num_labels"],
                                                 pooler_activation=finetune.get("pooler_activation") or "gelu")
        values["pooler_activation"] = model.pooler_activation
    return model, values


def _squad_model(config, source, given: dict, named: str):
    """The SQuAD model and export settings of a source with a SQuAD head: flags first, then the run's settings
    (``run_settings``), then run_squad's defaults."""
    from electra.modeling import ElectraForQuestionAnswering

    head = source.qa_head
    if "stride" in given:
        raise ValueError(f"--stride: the windows of a tagging export; {named} holds a SQuAD model (--doc_stride)")
    values = {**default_settings(), "beam_size": Decoding().beam_size,
              "version_2_with_negative": head.answerability, **run_settings(source), **given}
    length, beam_size = values["max_seq_length"], values.pop("beam_size")
    _check_length(length, config)
    if head.joint and not 1 <= beam_size <= length:
        raise ValueError(f"--beam_size={beam_size}: must be in [1, --max_seq_length={length}]")
    if head.joint and values["version_2_with_negative"] and not head.answerability:
        raise ValueError(f"--version_2_with_negative: {named} has the joint head without its answer class "
                         f"(answer_class), which the v2 no-answer decision needs")
    return ElectraForQuestionAnswering(config, answerability=head.answerability, joint=head.joint,
                                       beam_size=beam_size), values


def export_model(init: str, output_dir: str, formats: tuple[str, ...] = ("saved_model",), *,
                 vocab_file: str | None = None, model_config_file: str | None = None, **settings) -> dict:
    """Export the fine-tuned model ``init`` names (anything ``electra.interop.store.resolve_source`` takes, or a run
    output directory: its ``model/``) under ``output_dir``: ``saved_model/``, ``openvino/``, ``model.onnx``, as
    ``formats`` lists. The task is the weights' own: a sentence classifier or tagger (``classifier_head``: logits,
    its labels, its ``finetune`` record's window) or a SQuAD head (joint or plain, with or without the answer
    class). Every setting left None (or not given) is the run's (``run_settings``, ``finetune``), else the
    default. Returns what was written and with which settings. Bad input is a ``ValueError`` /
    ``FileNotFoundError`` naming the flag of ``electra-export``."""
    from electra.interop.store import is_model_directory, resolve_source
    from electra.interop.weights import WeightLoadError
    from electra.tokenization import TokenizerError, load_tokenizer

    named = f"--init={init}"
    spec = os.path.join(init, "model")
    spec = spec if os.path.isdir(init) and not is_model_directory(init) and is_model_directory(spec) else init
    if model_config_file and not os.path.isfile(model_config_file):
        raise FileNotFoundError(f"--model_config_file={model_config_file} does not exist")
    try:
        source = resolve_source(spec, model_config_file=model_config_file)
        classifier = classifier_head(source)
    except (WeightLoadError, OSError, ValueError) as e:
        raise ValueError(f"{named}: {e}") from e
    vocab = vocab_file or source.vocab_file
    if not vocab:
        raise ValueError(f"no vocabulary found for {named} (a {source.kind} source: none named by it or lying in "
                         f"its directory); pass --vocab_file")
    if not os.path.isfile(vocab):
        raise FileNotFoundError(f"--vocab_file={vocab} does not exist")
    config = source.model_config
    if config is None:
        raise ValueError(f"no model_config.json found for {named} (it is not in a run directory with "
                         f"model_config.json); pass --model_config_file")
    if classifier is None and source.qa_head is None:
        raise ValueError(f"{named} holds no qa_outputs head (nor the joint head's start_logits/end_logits) and no "
                         f"classifier head: not a fine-tuned checkpoint (exporting it would serve random logits)")
    given = {name: value for name, value in settings.items() if value is not None}
    if classifier is not None:
        model, values = _classifier_model(config, classifier, given, named)
        head_record = {"task": classifier["task"], "num_labels": classifier["num_labels"]}
    else:
        model, values = _squad_model(config, source, given, named)
        head_record = model.qa_head.record()
    if values["do_lower_case"] is None:
        values["do_lower_case"] = source.do_lower_case
    try:
        tokenizer = load_tokenizer(vocab, lower_case=values["do_lower_case"])
    except TokenizerError as e:
        raise ValueError(f"--vocab_file={vocab}: {e}") from e
    values["do_lower_case"] = tokenizer.lower_case
    config_file = model_config_file or source.metadata.get("model_config_file")
    try:
        config.validate_vocab(tokenizer.vocab_size)
    except ValueError as e:
        raise ValueError(f"--model_config_file={config_file or '(inferred from ' + source.path + ')'}: {e}") from e
    try:
        source.load_into(model)
    except (WeightLoadError, OSError) as e:
        raise ValueError(str(e)) from e

    out = os.path.abspath(output_dir)
    result = {"source": init, "source_kind": source.kind, "vocab_file": vocab, "model_config_file": config_file,
              "head": head_record, "settings": values}
    with storing(out), contextlib.ExitStack() as stack:
        os.makedirs(out, exist_ok=True)
        saved_model = os.path.join(out, "saved_model")
        if "saved_model" not in formats:      # the converters' input only: a temporary name, removed after
            saved_model = temporary_path(saved_model)
            stack.callback(shutil.rmtree, saved_model, ignore_errors=True)
        export_saved_model(model, saved_model, vocab, **values)
        if "saved_model" in formats:
            result["saved_model"] = saved_model
        if "openvino" in formats:
            result["openvino"] = export_openvino(saved_model, os.path.join(out, "openvino"))
        if "onnx" in formats:
            result["onnx"] = export_onnx(saved_model, os.path.join(out, "model.onnx"))
    return result
