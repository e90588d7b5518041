"""SavedModel export of a SQuAD model with the serving signature (the OpenVINO BERT-SQuAD contract), and
OpenVINO IR / ONNX files converted from it.

``serving_default``: inputs ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[batch, max_seq_length]``
(384 by default; batch dynamic) → outputs ``start_logits``, ``end_logits`` float32 ``[batch, max_seq_length]``.
The vocabulary travels as an asset and the pre/post-processing settings as ``assets/squad_settings.json``, so
``electra.squad.inference.SavedModelPredictor`` (and ``run_scripts/predict.py``) answer from the SavedModel alone.

Every head serves that contract. A model whose decoder needs more adds a second signature, with the same inputs:

* joint head: ``beam`` → ``start_top_log_probs`` float32 ``[batch, K]``, ``start_top_index`` int32 ``[batch, K]``,
  ``end_top_log_probs`` float32 ``[batch, K, K]``, ``end_top_index`` int32 ``[batch, K, K]`` and, with the
  answer class, ``answerable_logits`` float32 ``[batch]`` (``K`` = the model's ``beam_size``); its
  ``serving_default`` end logits are those given the top start;
* plain head with the answerability classifier: ``answerability`` → ``start_logits``, ``end_logits`` and
  ``answerable_logits``.

``squad_settings.json`` records the head as ``"head": {"joint", "beam_size", "answerability", "signature"}``
(``signature``: the one the decoder reads); an export without it is a plain head read through
``serving_default``.

The SavedModel is written by ``keras.export.ExportArchive``, not by ``tf.saved_model.save`` of a ``tf.Module``
holding the Keras model: the latter saves the Keras 3 variables as objects that the graph-mode loaders (TF
Serving, ``saved_model_cli run``, ``tf.compat.v1.saved_model.loader``) restore into variables the serving graph
never reads (``Could not find variable electra/layer_0/...``), and that OpenVINO cannot resolve
(tensorflow/tensorflow#72963, keras-team/keras#20095, tensorflow/serving#2226). ``ExportArchive`` saves the
``tf.Variable`` objects that the traced endpoint captures, so every loader sees one set of variables.

Output order: a SavedModel signature maps names to tensors and has no order; consumers that number outputs
(``saved_model_cli``, ``openvino.convert_model``, tf2onnx) list them sorted by name, i.e. ``end_logits``
first. ``export_openvino`` and ``export_onnx`` write files whose output 0 is ``start_logits`` and output 1
``end_logits``, the BERT-SQuAD contract.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile

import tensorflow as tf

SETTINGS_NAME = "squad_settings.json"
DEFAULT_SETTINGS = {"max_seq_length": 384, "doc_stride": 128, "max_query_length": 64, "do_lower_case": True,
                    "n_best_size": 20, "max_answer_length": 30, "version_2_with_negative": False,
                    "null_score_diff_threshold": 0.0}
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
OUTPUT_NAMES = ("start_logits", "end_logits")
SIGNATURE = "serving_default"
BEAM_SIGNATURE, ANSWERABILITY_SIGNATURE = "beam", "answerability"
BEAM_OUTPUT_NAMES = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index")
PLAIN_HEAD = {"joint": False, "beam_size": None, "answerability": False, "signature": SIGNATURE}
OPENVINO_NAME = "model.xml"


def input_signature(max_seq_length: int) -> list[tf.TensorSpec]:
    """The three int32 ``[None, max_seq_length]`` inputs, in ``INPUT_NAMES`` order."""
    return [tf.TensorSpec([None, max_seq_length], tf.int32, name=name) for name in INPUT_NAMES]


def serving_fn(model, max_seq_length: int):
    """``(input_ids, input_mask, segment_ids) -> {"start_logits", "end_logits"}``, all ``[batch, L]``.

    ``tf.ensure_shape`` makes the graph itself refuse another sequence length, since a restored signature
    called eagerly does not compare input shapes with the signature, and a C++ client (TF Serving) feeds the
    placeholders without the Python client's shape check. The failure names the input and the shape:
    ``Shape of tensor input_ids [1,128] is not compatible with expected shape [?,384]`` (eager), or
    ``... expected shape [?,384]. [[{{node input_ids_shape}}]]`` (graph). OpenVINO and tf2onnx convert it.
    """
    return _endpoint(model, max_seq_length, OUTPUT_NAMES)


def _endpoint(model, max_seq_length: int, names):
    def serve(input_ids, input_mask, segment_ids):
        features = {name: tf.ensure_shape(tensor, [None, max_seq_length], name=f"{name}_shape")
                    for name, tensor in zip(INPUT_NAMES, (input_ids, input_mask, segment_ids))}
        outputs = model(features, training=False)
        return {name: tf.identity(outputs[name] if outputs[name].dtype.is_integer else
                                  tf.cast(outputs[name], tf.float32), name=name) for name in names}

    return serve


def model_head(model) -> dict:
    """The head record of an export of ``model``: ``{"joint", "beam_size", "answerability", "signature"}``."""
    head = getattr(model, "head_settings", None)
    head = dict(head) if head else {**PLAIN_HEAD, "answerability": getattr(model, "answer_head", None) is not None}
    if head["joint"]:
        head["signature"] = BEAM_SIGNATURE
    elif head["answerability"]:
        head["signature"] = ANSWERABILITY_SIGNATURE
    else:
        head["signature"] = SIGNATURE
    return head


def decoding_fn(model, max_seq_length: int, head: dict | None = None):
    """``(signature name, function)`` of the second signature ``model`` needs (see the module docstring), or
    ``None`` for a plain head without the answerability classifier."""
    head = head or model_head(model)
    if head["joint"]:
        names = BEAM_OUTPUT_NAMES + (("answerable_logits",) if head["answerability"] else ())
    elif head["answerability"]:
        names = OUTPUT_NAMES + ("answerable_logits",)
    else:
        return None
    return head["signature"], _endpoint(model, max_seq_length, names)


def head_of(settings: dict) -> dict:
    """The head record of an export's settings (``PLAIN_HEAD`` for an export written before heads were
    recorded)."""
    return {**PLAIN_HEAD, **(settings.get("head") or {})}


def _settings(model, vocab_file: str, settings: dict) -> dict:
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown export setting(s): {sorted(unknown)}")
    if not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"vocabulary file not found: {vocab_file}")
    values = {**DEFAULT_SETTINGS, **settings}
    length, positions = values["max_seq_length"], model.config.max_position_embeddings
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"max_seq_length must be a positive int, got {length!r}")
    if length > positions:
        raise ValueError(f"max_seq_length={length} exceeds the model's max_position_embeddings={positions}")
    head = model_head(model)
    if head["joint"] and values["version_2_with_negative"] and not head["answerability"]:
        raise ValueError("version_2_with_negative=True needs the joint head's answer class (a model built with "
                         "answerability=True): the beam decoder has no other no-answer score")
    if head["joint"] and head["beam_size"] > length:
        raise ValueError(f"the joint head's beam_size={head['beam_size']} exceeds max_seq_length={length}")
    return values


def _replace_atomically(produced: str, target: str) -> None:
    old = None
    if os.path.lexists(target):
        old = target + f".old.{os.getpid()}"
        os.replace(target, old)
    os.replace(produced, target)
    if old:
        if os.path.isdir(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.remove(old)


def _staging(target: str) -> str:
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=".export-", dir=parent)


def export_saved_model(model, export_dir: str, vocab_file: str, **settings) -> str:
    """Write the SavedModel to ``export_dir`` (written beside it, then renamed over it, so a reader never sees a
    half-written export); ``settings`` override ``DEFAULT_SETTINGS`` (unknown keys are an error). The head
    (joint or plain, ``beam_size``, answerability) is the model's own, recorded under ``"head"``; a joint model
    exported for v2 must have the answer class. Returns ``export_dir`` (absolute)."""
    import keras

    values = _settings(model, vocab_file, settings)
    length = int(values["max_seq_length"])
    export_dir = os.path.abspath(export_dir)
    staging = _staging(export_dir)
    try:
        files = os.path.join(staging, "_files")
        os.makedirs(files)
        vocab_copy = os.path.join(files, os.path.basename(vocab_file))
        shutil.copyfile(vocab_file, vocab_copy)
        settings_path = os.path.join(files, SETTINGS_NAME)
        head = model_head(model)
        with open(settings_path, "w", encoding="utf-8") as f:
            json.dump({**values, "vocab_file": os.path.basename(vocab_file),
                       "model_config": model.config.to_dict(), "head": head}, f, indent=2)
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serving_fn(model, length), input_signature=input_signature(length))
        second = decoding_fn(model, length, head)   # after "serve": serving_default is the first endpoint
        if second is not None:
            archive.add_endpoint(second[0], second[1], input_signature=input_signature(length))
        _attach_assets(archive, vocab_file=vocab_copy, settings_file=settings_path)
        target = os.path.join(staging, "saved_model")
        with contextlib.redirect_stdout(io.StringIO()):
            archive.write_out(target, verbose=False)
        _replace_atomically(target, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
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


def load_settings(export_dir: str) -> dict:
    with open(os.path.join(export_dir, "assets", SETTINGS_NAME), encoding="utf-8") as f:
        return json.load(f)


def _copy_assets(saved_model_dir: str, out_dir: str) -> None:
    assets = os.path.join(saved_model_dir, "assets")
    if os.path.isdir(assets):
        for name in os.listdir(assets):
            shutil.copyfile(os.path.join(assets, name), os.path.join(out_dir, name))


def export_openvino(saved_model_dir: str, out_dir: str) -> str:
    """Convert the SavedModel to OpenVINO IR in ``out_dir`` (``model.xml`` + ``model.bin``, fp32 weights, plus a
    copy of the vocabulary and ``squad_settings.json``); returns the ``.xml`` path.

    ``openvino.convert_model`` of the SavedModel lists the outputs as the signature sorts them
    (``end_logits``, ``start_logits``); the IR written here has results ``[start_logits, end_logits]`` and the
    inputs ``input_ids``, ``input_mask``, ``segment_ids`` ``[?, max_seq_length]`` int32. Weights stay fp32
    (``compress_to_fp16=False``); on CPUs with AMX or AVX512_BF16 the CPU plugin computes in bf16 unless compiled
    with ``{"INFERENCE_PRECISION_HINT": "f32"}``.
    """
    import openvino as ov

    disable_openvino_telemetry()
    converted = ov.convert_model(os.path.abspath(saved_model_dir))
    model = ov.Model(_ordered(converted.get_results(), lambda r: r.output(0).get_names(), "OpenVINO results"),
                     converted.get_parameters(), converted.get_friendly_name())
    missing = [n for n in INPUT_NAMES if not any(n in p.output(0).get_names() for p in model.get_parameters())]
    if missing:
        raise RuntimeError(f"OpenVINO conversion lost input name(s) {missing}")
    out_dir = os.path.abspath(out_dir)
    staging = _staging(out_dir)
    try:
        target = os.path.join(staging, "ir")
        os.makedirs(target)
        ov.save_model(model, os.path.join(target, OPENVINO_NAME), compress_to_fp16=False)
        _copy_assets(saved_model_dir, target)
        _replace_atomically(target, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
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


def _ordered(items, names_of, what: str) -> list:
    by_name = {}
    for item in items:
        for name in names_of(item):
            by_name.setdefault(name, item)
    missing = [n for n in OUTPUT_NAMES if n not in by_name]
    if missing or len(items) != len(OUTPUT_NAMES):
        raise RuntimeError(f"{what}: expected outputs {list(OUTPUT_NAMES)}, found {sorted(by_name)}")
    return [by_name[n] for n in OUTPUT_NAMES]


def export_onnx(source, out_path: str, max_seq_length: int | None = None, opset: int = 17) -> str:
    """Convert a SavedModel directory (its ``serving_default``) or an in-memory ``ElectraForQuestionAnswering``
    to ONNX with tf2onnx; returns ``out_path``.

    Graph inputs ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[batch, L]``; graph outputs, in this
    order, ``start_logits`` and ``end_logits`` float32 ``[batch, L]``. ``L`` is the export's
    ``max_seq_length`` (from its settings) for a directory, ``max_seq_length`` (default 384) for a model.
    """
    import onnx
    import tf2onnx

    loaded = None
    if isinstance(source, (str, os.PathLike)):
        source = os.fspath(source)
        length = int(load_settings(source)["max_seq_length"])
        if max_seq_length is not None and max_seq_length != length:
            raise ValueError(f"{source} was exported with max_seq_length={length}, not {max_seq_length}")
        loaded = tf.saved_model.load(source)
        function = loaded.signatures[SIGNATURE]
        wrapped = tf.function(lambda input_ids, input_mask, segment_ids: function(
            input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids), autograph=False)
    else:
        length = int(max_seq_length or DEFAULT_SETTINGS["max_seq_length"])
        if length > source.config.max_position_embeddings:
            raise ValueError(f"max_seq_length={length} exceeds the model's max_position_embeddings="
                             f"{source.config.max_position_embeddings}")
        wrapped = tf.function(serving_fn(source, length), autograph=False)
    proto, _ = tf2onnx.convert.from_function(wrapped, input_signature=input_signature(length), opset=opset)
    del wrapped, loaded
    outputs = _ordered(list(proto.graph.output), lambda o: [o.name], "ONNX graph outputs")
    del proto.graph.output[:]
    proto.graph.output.extend(outputs)
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    found = [i.name for i in proto.graph.input]
    if found != list(INPUT_NAMES):
        raise RuntimeError(f"ONNX graph inputs are {found}, expected {list(INPUT_NAMES)}")
    onnx.checker.check_model(proto)
    out_path = os.path.abspath(out_path)
    staging = _staging(out_path)
    try:
        target = os.path.join(staging, "model.onnx")
        onnx.save(proto, target)
        _replace_atomically(target, out_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_path

