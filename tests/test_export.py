"""The SavedModel export against its real consumers: plain TensorFlow (eager, in a process without our package),
the TF1 graph loader and ``saved_model_cli`` (TF Serving's path), OpenVINO and ONNX Runtime (via tf2onnx)."""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from electra.export import (BEAM_OUTPUT_NAMES, INPUT_NAMES, OUTPUT_NAMES, disable_openvino_telemetry, export_head,
                            export_onnx, export_openvino, export_saved_model, load_settings)
from electra.modeling import ElectraForQuestionAnswering
from electra.io import is_temporary
from electra.modeling.heads import QAHead
from tests.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENGTH = 384
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]

LOAD_WITHOUT_OUR_PACKAGE = textwrap.dedent("""
    import sys
    sys.modules["electra"] = None
    import json, os
    import numpy as np
    import tensorflow as tf
    try:
        import electra
        importable = True
    except ImportError:
        importable = False
    export_dir, inputs_file, out_file = sys.argv[1:]
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    inputs = dict(np.load(inputs_file))
    out = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    args, kwargs = serve.structured_input_signature
    assets = {name: os.path.relpath(getattr(loaded, name).asset_path.numpy().decode(), export_dir)
              for name in ("vocab_file", "settings_file")}
    spec = {"inputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in kwargs.items()},
            "outputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in serve.structured_outputs.items()},
            "electra_importable": importable, "assets": assets}
    np.savez(out_file, **{k: v.numpy() for k, v in out.items()})
    print(json.dumps(spec))
""")


def _batch(rows: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 60, size=(rows, LENGTH)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1 % rows, 200:] = 0
    ids *= mask
    segments = np.zeros_like(ids)
    segments[:, 20:] = 1
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments * mask}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 4-layer model (OpenVINO failed from 4 layers on with the old export) exported at length 384."""
    root = tmp_path_factory.mktemp("export")
    model = ElectraForQuestionAnswering(tiny_config(num_hidden_layers=4, max_position_embeddings=LENGTH))
    vocab = root / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    export_dir = export_saved_model(model, str(root / "saved_model"), str(vocab), do_lower_case=False,
                                    doc_stride=100)
    inputs = _batch()
    expected = {k: v.numpy() for k, v in model(inputs, training=False).items()}
    return model, export_dir, root, inputs, expected


def _assert_parity(got: dict, expected: dict, atol: float, names=OUTPUT_NAMES) -> float:
    """Each of ``names`` has ``expected``'s shape and lies within ``atol`` of it; returns the largest difference."""
    for key in names:
        assert got[key].shape == expected[key].shape, key
        np.testing.assert_allclose(got[key], expected[key], atol=atol, rtol=0, err_msg=key)
    return max(float(np.max(np.abs(got[k] - expected[k]), initial=0.0)) for k in names)


def _tf1_outputs(export_dir: str, inputs: dict, names) -> dict:
    """``serving_default`` run the way TF Serving runs it: the TF1 loader in a graph session."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        assert {k: v.dtype for k, v in signature.inputs.items()} == {k: tf.int32.as_datatype_enum
                                                                     for k in INPUT_NAMES}
        assert sorted(signature.outputs) == sorted(names)
        return session.run({k: signature.outputs[k].name for k in names},
                           {signature.inputs[k].name: v for k, v in inputs.items()})


def _saved_model_cli(export_dir: str, inputs: dict, directory) -> subprocess.CompletedProcess:
    """``saved_model_cli run`` of ``serving_default`` on ``inputs`` (saved as .npy in ``directory``); outputs land
    in ``directory/out/<name>.npy``."""
    for name, value in inputs.items():
        np.save(directory / f"{name}.npy", value)
    command = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", export_dir,
               "--tag_set", "serve", "--signature_def", "serving_default",
               "--inputs", ";".join(f"{k}={directory / (k + '.npy')}" for k in INPUT_NAMES),
               "--outdir", str(directory / "out"), "--overwrite"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, capture_output=True, text=True, cwd=directory, env=env)


def _openvino_outputs(xml: str, inputs: dict) -> list:
    """The IR's outputs, in its order, computed in fp32 on the CPU."""
    import openvino as ov
    return list(ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(inputs).values())


@pytest.mark.slow
def test_plain_tensorflow_without_our_package(exported, tmp_path):
    model, export_dir, root, inputs, expected = exported
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_OUR_PACKAGE, export_dir, str(tmp_path / "inputs.npz"),
                          str(tmp_path / "outputs.npz")], capture_output=True, text=True, cwd=tmp_path,
                         env={**env, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    spec = json.loads(out.stdout.strip().splitlines()[-1])
    assert spec["electra_importable"] is False
    assert spec["inputs"] == {k: ["int32", [None, LENGTH]] for k in INPUT_NAMES}
    assert spec["outputs"] == {k: ["float32", [None, LENGTH]] for k in OUTPUT_NAMES}
    assert spec["assets"] == {"vocab_file": os.path.join("assets", "vocab.txt"),
                              "settings_file": os.path.join("assets", "squad_settings.json")}
    _assert_parity(dict(np.load(tmp_path / "outputs.npz")), expected, 1e-5)


def test_assets_carry_vocab_and_settings(exported):
    model, export_dir, _, _, _ = exported
    settings = load_settings(export_dir)
    assert settings["max_seq_length"] == LENGTH and settings["doc_stride"] == 100
    assert settings["max_query_length"] == 64 and settings["do_lower_case"] is False
    with open(os.path.join(export_dir, "assets", settings["vocab_file"]), encoding="utf-8") as f:
        assert f.read().split() == VOCAB
    assert settings["model_config"] == model.config.to_dict()
    assert not [n for n in os.listdir(os.path.dirname(export_dir)) if is_temporary(n)]


def test_export_refuses_bad_settings(exported, tmp_path):
    model, _, root, _, _ = exported
    with pytest.raises(ValueError, match="unknown export setting"):
        export_saved_model(model, str(tmp_path / "x"), str(root / "vocab.txt"), max_seq=3)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        export_saved_model(model, str(tmp_path / "x"), str(root / "vocab.txt"), max_seq_length=512)
    with pytest.raises(ValueError, match="positive int"):
        export_saved_model(model, str(tmp_path / "x"), str(root / "vocab.txt"), max_seq_length=0)
    with pytest.raises(FileNotFoundError):
        export_saved_model(model, str(tmp_path / "x"), str(tmp_path / "nope.txt"))
    assert not (tmp_path / "x").exists()


def test_graph_mode_tf1_loader(exported):
    """TF Serving's path: restore ops and serving graph must use the same variables (the old export failed
    here with ``Could not find variable electra/layer_0/...``)."""
    _, export_dir, _, inputs, expected = exported
    _assert_parity(_tf1_outputs(export_dir, inputs, OUTPUT_NAMES), expected, 1e-5)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        short = {signature.inputs[k].name: v[:, :128] for k, v in inputs.items()}
        with pytest.raises(ValueError, match=r"serving_default_input_ids:0, which has shape \(None, 384\)"):
            session.run(signature.outputs["start_logits"].name, short)


def test_exported_graph_keeps_portable_layer_norms(exported):
    """In-process inference traces its LayerNorms in the form only TensorFlow's oneDNN rewrite fuses
    (``electra.modeling.layers.onednn_inference``); the export must not: its graph holds Keras' ops, which
    OpenVINO and ONNX Runtime recognize, and no ``FusedBatchNormV3``."""
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(exported[1]) / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    assert "Rsqrt" in ops and "FusedBatchNormV3" not in ops


def test_graph_mode_checks_length_inside_the_graph(exported):
    """A client that does not check shapes itself (TF Serving, C API) still gets a named refusal: the inputs
    are rewired to unshaped placeholders so that only the graph's own check can catch the length."""
    _, export_dir, _, inputs, _ = exported
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        free = {k: tf.compat.v1.placeholder(tf.int32, [None, None], name=f"free_{k}") for k in INPUT_NAMES}
        meta = tf.compat.v1.saved_model.loader.load(
            session, ["serve"], export_dir, input_map={f"serving_default_{k}:0": free[k] for k in INPUT_NAMES})
        fetch = meta.signature_def["serving_default"].outputs["start_logits"].name
        feeds = {free[k]: v for k, v in inputs.items()}
        assert session.run(fetch, feeds).shape == (3, LENGTH)
        feeds[free["segment_ids"]] = inputs["segment_ids"][:, :128]
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"\[3,128\] is not compatible with expected shape \[\?,384\]") as e:
            session.run(fetch, feeds)
        assert "{{node segment_ids_shape}}" in str(e.value)


@pytest.mark.slow
def test_saved_model_cli_run(exported, tmp_path):
    _, export_dir, _, inputs, expected = exported
    out = _saved_model_cli(export_dir, inputs, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    _assert_parity({k: np.load(tmp_path / "out" / f"{k}.npy") for k in OUTPUT_NAMES}, expected, 1e-5)

    out = _saved_model_cli(export_dir, {**inputs, "input_ids": inputs["input_ids"][:, :128]}, tmp_path)
    assert out.returncode != 0
    assert "serving_default_input_ids:0, which has shape (None, 384)" in out.stderr


def test_eager_signature_rejects_wrong_length_and_dtype(exported):
    _, export_dir, _, inputs, expected = exported
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    _assert_parity({k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in inputs.items()}).items()},
                   expected, 1e-5)
    for name in INPUT_NAMES:
        short = {k: tf.constant(v[:1, :128] if k == name else v[:1]) for k, v in inputs.items()}
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"Shape of tensor {name} \[1,128\] is not compatible with expected shape \[\?,384\]"):
            serve(**short)
        wide = {k: tf.constant(v[:1].astype(np.int64) if k == name else v[:1]) for k, v in inputs.items()}
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected to be a int32 tensor but is a int64") as e:
            serve(**wide)
        position = int(e.value.message.split("input #")[1].split("(")[0])
        assert serve.inputs[position].name == f"{name}:0"
        with pytest.raises(TypeError, match=rf"dtype=tf.int32, name='{name}'"):
            loaded.serve(*(wide[k] for k in INPUT_NAMES))


@pytest.fixture(scope="module")
def openvino_ir(exported, tmp_path_factory):
    _, export_dir, _, _, _ = exported
    return export_openvino(export_dir, str(tmp_path_factory.mktemp("ov") / "ir"))


def test_openvino_converts_and_matches(exported, openvino_ir):
    import openvino as ov

    _, export_dir, _, inputs, expected = exported
    disable_openvino_telemetry()
    direct = ov.convert_model(export_dir)
    assert [sorted(p.output(0).get_names()) for p in direct.get_parameters()] == [[n] for n in INPUT_NAMES]
    assert [sorted(o.get_names()) for o in direct.outputs] == [["end_logits"], ["start_logits"]]

    core = ov.Core()
    ir = core.read_model(openvino_ir)
    assert [sorted(o.get_names()) for o in ir.outputs] == [["start_logits"], ["end_logits"]]
    assert [sorted(i.get_names()) for i in ir.inputs] == [[n] for n in INPUT_NAMES]
    assert all(str(i.get_partial_shape()) == "[?,384]" and i.get_element_type() == ov.Type.i32 for i in ir.inputs)
    compiled = core.compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(inputs)
    _assert_parity({"start_logits": result[0], "end_logits": result[1]}, expected, 1e-4)
    by_name = {k: result[compiled.output(k)] for k in OUTPUT_NAMES}
    _assert_parity(by_name, expected, 1e-4)
    assert sorted(os.listdir(os.path.dirname(openvino_ir))) == ["model.bin", "model.xml", "squad_settings.json",
                                                                 "vocab.txt"]
    for position, name in enumerate(INPUT_NAMES):
        with pytest.raises(RuntimeError, match=rf"index: {position}, because the model input \(shape=\[\?,384\]\)"):
            compiled({**inputs, name: inputs[name][:, :128]})


@pytest.mark.slow
def test_onnx_converts_and_matches(exported, tmp_path):
    import onnx
    import onnxruntime as ort
    model, export_dir, _, inputs, expected = exported
    paths = [export_onnx(export_dir, str(tmp_path / "from_saved_model.onnx")),
             export_onnx(model, str(tmp_path / "from_model.onnx"), max_seq_length=LENGTH)]
    for path in paths:
        graph = onnx.load(path).graph
        assert [o.name for o in graph.output] == list(OUTPUT_NAMES)
        assert [i.name for i in graph.input] == list(INPUT_NAMES)
        assert [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input] == \
            [["batch", LENGTH]] * 3
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        start, end = session.run(None, inputs)
        _assert_parity({"start_logits": start, "end_logits": end}, expected, 1e-4)
        for name in INPUT_NAMES:
            with pytest.raises(Exception, match=rf"input: {name} [\s\S]*Got: 128 Expected: 384"):
                session.run(None, {**inputs, name: inputs[name][:, :128]})
            with pytest.raises(Exception, match=r"Actual: \(tensor\(int64\)\) , expected: \(tensor\(int32\)\)"):
                session.run(None, {**inputs, name: inputs[name].astype(np.int64)})
    with pytest.raises(ValueError, match="max_seq_length=384, not 128"):
        export_onnx(export_dir, str(tmp_path / "x.onnx"), max_seq_length=128)


def _fine_tuned_run(directory, model, vocab_lines=VOCAB):
    """What ``run_squad.py`` leaves: ``checkpoints/ckpt-N`` (``electra.squad.task.fine_tune``'s layout),
    ``model_config.json`` and the vocabulary."""
    checkpoint = tf.train.Checkpoint(model={k: getattr(v, "value", v) for k, v in model.named_variables().items()})
    prefix = tf.train.CheckpointManager(checkpoint, os.path.join(directory, "checkpoints"), max_to_keep=1,
                                        checkpoint_name="ckpt").save(checkpoint_number=7)
    model.config.to_json_file(os.path.join(directory, "model_config.json"))
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab_lines))
    return prefix


def _serve(export_dir: str, inputs: dict) -> dict:
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    return {k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


@pytest.mark.slow
def test_cli_exports_a_fine_tuned_run(tmp_path, capsys):
    from electra.commands.export import main

    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=128), answerability=True)
    run = tmp_path / "squad_run"
    prefix = _fine_tuned_run(str(run), model)
    inputs = {k: v[:, :128] for k, v in _batch(2).items()}
    expected = {k: v.numpy() for k, v in model(inputs, training=False).items()}

    assert main(["--init_checkpoint", str(run), "--output_dir", str(tmp_path / "a"), "--max_seq_length", "128",
                 "--formats", "saved_model,onnx"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"]["answerability"] is True and result["settings"]["version_2_with_negative"] is True
    settings = load_settings(result["saved_model"])
    assert settings["max_seq_length"] == 128 and settings["model_config"] == model.config.to_dict()
    _assert_parity(_serve(result["saved_model"], inputs), expected, 1e-5)
    assert os.path.isfile(tmp_path / "a" / "model.onnx") and not os.path.exists(tmp_path / "a" / "openvino")

    assert main(["--init_checkpoint", prefix, "--output_dir", str(tmp_path / "b"), "--max_seq_length", "128",
                 "--formats", "openvino", "--version_2_with_negative=false"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sorted(os.listdir(tmp_path / "b")) == ["openvino"]
    assert result["settings"]["version_2_with_negative"] is False and result["vocab_file"] == str(run / "vocab.txt")


def test_cli_exports_a_hugging_face_directory(tmp_path, capsys):
    from electra.interop import save_hf_electra
    from electra.commands.export import main

    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=128))
    hf = tmp_path / "hf"
    save_hf_electra(model, str(hf))
    (hf / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
    assert main(["--init", f"hf:{hf}", "--output_dir", str(tmp_path / "out"), "--max_seq_length", "64"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"]["answerability"] is False and load_settings(result["saved_model"])["max_seq_length"] == 64
    inputs = {k: v[:, :64] for k, v in _batch(2).items()}
    _assert_parity(_serve(result["saved_model"], inputs),
                   {k: v.numpy() for k, v in model(inputs, training=False).items()}, 1e-5)


@pytest.mark.slow
def test_cli_init_takes_any_source(tmp_path, capsys):
    """``--init``: a run_squad output directory's model directory (``model/``) and ``hf:<dir>``."""
    from electra.interop import save_hf_electra
    from electra.interop.store import save_model_directory
    from electra.commands.export import main

    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=128), answerability=True)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    run = tmp_path / "squad_run"
    save_model_directory(model, str(run / "model"), vocab_file=str(vocab), do_lower_case=False, task="squad",
                         source="test")
    inputs = {k: v[:, :64] for k, v in _batch(2).items()}
    assert main(["--init", str(run), "--output_dir", str(tmp_path / "a"), "--max_seq_length", "64"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["source_kind"] == "model_directory" and result["head"]["answerability"] is True
    assert result["vocab_file"] == str(run / "model" / "vocab.txt")
    assert result["model_config_file"] == str(run / "model" / "model_config.json")
    settings = load_settings(result["saved_model"])
    assert settings["do_lower_case"] is False and settings["version_2_with_negative"] is True
    _assert_parity(_serve(result["saved_model"], inputs),
                   {k: v.numpy() for k, v in model(inputs, training=False).items()}, 1e-5)

    hf = tmp_path / "hf"
    save_hf_electra(model, str(hf))
    (hf / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
    assert main(["--init", f"hf:{hf}", "--output_dir", str(tmp_path / "b"), "--max_seq_length", "64"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["source_kind"] == "hf" and result["head"]["answerability"] is False

    assert main(["--init", f"hf:{run}", "--output_dir", str(tmp_path / "c")]) == 2
    assert f"--init=hf:{run}: " in capsys.readouterr().err


@pytest.mark.slow
def test_export_takes_the_windows_and_decoding_of_the_run_it_exports(tmp_path, tiny_squad_file, tiny_vocab,
                                                                      capsys):
    """A run trained with other windows is exported with them (its run_info.json), not with run_squad's defaults;
    a flag still wins. The files are readable by other users (umask 022: 0644 / 0755), e.g. a serving account."""
    from electra.cli import build
    from electra.commands.export import main
    from electra.configs import SquadConfig
    from electra.tasks.squad import run

    windows = dict(max_seq_length=96, doc_stride=40, max_query_length=20)
    decoding = dict(n_best_size=7, max_answer_length=12, null_score_diff_threshold=0.5)
    run(build(SquadConfig, output_dir=str(tmp_path / "run"), mode="train", train_file=str(tiny_squad_file),
              vocab_file=str(tiny_vocab), model_size="tiny", max_steps=1, train_batch_size=4, xla=False,
              version_2_with_negative=True, beam_size=3, **windows, **decoding))
    capsys.readouterr()
    umask = os.umask(0o022)
    try:
        assert main(["--init", str(tmp_path / "run"), "--output_dir", str(tmp_path / "out"), "--doc_stride=50"]) == 0
    finally:
        os.umask(umask)
    result = json.loads(capsys.readouterr().out)
    settings = load_settings(result["saved_model"])
    assert {k: settings[k] for k in {**windows, **decoding}} == {**windows, **decoding, "doc_stride": 50}
    assert settings["version_2_with_negative"] is True and settings["do_lower_case"] is True
    assert export_head(settings) == QAHead(joint=True, answerability=True, beam_size=3)
    assert result["settings"] == {k: settings[k] for k in result["settings"]}
    saved_model = pathlib.Path(result["saved_model"])
    assert oct(saved_model.stat().st_mode & 0o777) == oct(0o755)
    for path in (saved_model / "saved_model.pb", saved_model / "assets" / "squad_settings.json"):
        assert oct(path.stat().st_mode & 0o777) == oct(0o644), path


def test_run_settings_come_from_the_run_record(tmp_path, tiny_squad_file):
    """What run_squad's run_info.json records (the resolved config) is what the export starts from."""
    from electra.cli import build, to_dict
    from electra.configs import SquadConfig
    from electra.export import run_settings
    from electra.interop.store import resolve_source, save_model_directory

    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=128))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    run = tmp_path / "run"
    save_model_directory(model, str(run / "model"), vocab_file=str(vocab), task="squad", source="test")
    assert run_settings(resolve_source(str(run / "model"))) == {}
    config = build(SquadConfig, output_dir=str(run), mode="train", train_file=str(tiny_squad_file),
                   max_seq_length=96, doc_stride=40, beam_size=3)
    (run / "run_info.json").write_text(json.dumps({"task": "squad", "config": to_dict(config)}))
    settings = run_settings(resolve_source(str(run / "model")))
    assert settings == {"max_seq_length": 96, "doc_stride": 40, "max_query_length": 64, "do_lower_case": None,
                        "version_2_with_negative": False, "n_best_size": 20, "max_answer_length": 30,
                        "null_score_diff_threshold": 0.0, "beam_size": 3}


def test_cli_refuses_bad_input_with_exit_2(tmp_path, capsys):
    from electra.modeling import ElectraDiscriminator
    from electra.commands.export import main

    run = tmp_path / "run"
    _fine_tuned_run(str(run), ElectraForQuestionAnswering(tiny_config(max_position_embeddings=128)))
    pretrained = tmp_path / "pretrained"
    _fine_tuned_run(str(pretrained), ElectraDiscriminator(tiny_config(max_position_embeddings=128)))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "checkpoints").symlink_to(run / "checkpoints")
    out = str(tmp_path / "out")
    cases = [
        (["--init_checkpoint", str(tmp_path / "missing")], "--init="),
        (["--init_checkpoint", str(bare)], "pass --vocab_file"),
        (["--init_checkpoint", str(run), "--vocab_file", str(tmp_path / "nope.txt")], "--vocab_file="),
        (["--init_checkpoint", str(run), "--model_config_file", str(tmp_path / "nope.json")], "--model_config_file="),
        (["--init_checkpoint", str(run), "--formats", "saved_model,tflite"], "--formats="),
        (["--init_checkpoint", str(run), "--max_seq_length", "512"], "--max_seq_length=512"),
        (["--init_checkpoint", str(pretrained)], "holds no qa_outputs head"),
    ]
    for flags, message in cases:
        assert main(flags + ["--output_dir", out]) == 2, flags
        assert message in capsys.readouterr().err, flags
    assert not os.path.exists(out) or not os.listdir(out)


@pytest.mark.slow
@pytest.mark.parametrize("size", ["small", "base"])
def test_openvino_converts_released_sizes(size, tmp_path):
    """The sizes users serve (12 layers; hidden 256 and 768) convert and match TF; 4+ layers failed before."""
    import openvino as ov

    from electra.configs import preset
    model = ElectraForQuestionAnswering(preset(size))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]))
    export_dir = export_saved_model(model, str(tmp_path / "saved_model"), str(vocab))
    inputs = _batch(rows=2, seed=3)
    served = tf.saved_model.load(export_dir).signatures["serving_default"](
        **{k: tf.constant(v) for k, v in inputs.items()})
    expected = {k: served[k].numpy() for k in OUTPUT_NAMES}
    _assert_parity({k: v.numpy() for k, v in model(inputs, training=False).items() if k in OUTPUT_NAMES},
                   expected, 1e-5)
    compiled = ov.Core().compile_model(export_openvino(export_dir, str(tmp_path / "ir")), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(inputs)
    _assert_parity({"start_logits": result[0], "end_logits": result[1]}, expected, 1e-4)


# ---- the joint head: serving_default keeps the contract, the beam is a second signature ---------------------

JOINT_LENGTH, BEAM = 128, 3


@pytest.fixture(scope="module")
def exported_joint(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_joint")
    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=JOINT_LENGTH), answerability=True,
                                        joint=True, beam_size=BEAM)
    vocab = root / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    export_dir = export_saved_model(model, str(root / "saved_model"), str(vocab), max_seq_length=JOINT_LENGTH,
                                    version_2_with_negative=True)
    inputs = {k: v[:, :JOINT_LENGTH] for k, v in _batch().items()}
    expected = {k: v.numpy() for k, v in model(inputs, training=False).items()}
    return model, export_dir, root, inputs, expected


def _assert_beam_parity(got: dict, expected: dict) -> None:
    assert set(got) == set(BEAM_OUTPUT_NAMES) | {"answerable_logits"}
    for key, value in got.items():
        assert value.shape == expected[key].shape and value.dtype == expected[key].dtype, key
        if value.dtype == np.int32:
            np.testing.assert_array_equal(value, expected[key], err_msg=key)
        else:
            np.testing.assert_allclose(value, expected[key], atol=1e-5, rtol=0, err_msg=key)


def test_joint_export_records_the_head_and_serves_both_signatures(exported_joint):
    model, export_dir, _, inputs, expected = exported_joint
    settings = load_settings(export_dir)
    assert settings["head"] == {"joint": True, "beam_size": BEAM, "answerability": True, "signature": "beam"}
    assert export_head(settings) == QAHead(joint=True, answerability=True, beam_size=BEAM) == model.qa_head
    loaded = tf.saved_model.load(export_dir)
    assert {"serving_default", "beam"} <= set(loaded.signatures)
    feeds = {k: tf.constant(v) for k, v in inputs.items()}
    serve = loaded.signatures["serving_default"]
    assert sorted(serve.structured_outputs) == sorted(OUTPUT_NAMES)
    _assert_parity({k: v.numpy() for k, v in serve(**feeds).items()}, expected, 1e-5)
    beam = loaded.signatures["beam"]
    assert {k: (v.dtype.name, v.shape.as_list()) for k, v in beam.structured_outputs.items()} == {
        "start_top_log_probs": ("float32", [None, BEAM]), "start_top_index": ("int32", [None, BEAM]),
        "end_top_log_probs": ("float32", [None, BEAM, BEAM]), "end_top_index": ("int32", [None, BEAM, BEAM]),
        "answerable_logits": ("float32", [None])}
    _assert_beam_parity({k: v.numpy() for k, v in beam(**feeds).items()}, expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[\?,128\]"):
        beam(**{k: v[:, :64] for k, v in feeds.items()})


def test_joint_export_through_the_tf1_graph_loader(exported_joint):
    """TF Serving's path, for both signatures of a joint-head export."""
    _, export_dir, _, inputs, expected = exported_joint
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        assert {"serving_default", "beam"} <= set(meta.signature_def)
        for name in ("serving_default", "beam"):
            signature = meta.signature_def[name]
            assert {k: v.dtype for k, v in signature.inputs.items()} == {k: tf.int32.as_datatype_enum
                                                                         for k in INPUT_NAMES}
            got = session.run({k: v.name for k, v in signature.outputs.items()},
                              {signature.inputs[k].name: v for k, v in inputs.items()})
            if name == "serving_default":
                assert sorted(got) == sorted(OUTPUT_NAMES)
                _assert_parity(got, expected, 1e-5)
            else:
                _assert_beam_parity(got, expected)


def test_joint_export_converts_to_openvino(exported_joint, tmp_path):
    """OpenVINO (and ONNX) take ``serving_default``: the two-output contract, end logits given the top start."""
    import openvino as ov

    _, export_dir, _, inputs, expected = exported_joint
    ir = ov.Core().read_model(export_openvino(export_dir, str(tmp_path / "ir")))
    assert [sorted(o.get_names()) for o in ir.outputs] == [["start_logits"], ["end_logits"]]
    result = ov.Core().compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(inputs)
    _assert_parity({"start_logits": result[0], "end_logits": result[1]}, expected, 1e-4)


def test_plain_head_with_answerability_exports_its_logit(tmp_path):
    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=64), answerability=True)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    export_dir = export_saved_model(model, str(tmp_path / "sm"), str(vocab), max_seq_length=64)
    assert load_settings(export_dir)["head"] == {"joint": False, "beam_size": None, "answerability": True,
                                                 "signature": "answerability"}
    inputs = {k: v[:, :64] for k, v in _batch(2).items()}
    expected = {k: v.numpy() for k, v in model(inputs, training=False).items()}
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures["answerability"](**{k: tf.constant(v) for k, v in inputs.items()})
    assert sorted(out) == ["answerable_logits", "end_logits", "start_logits"]
    for key, value in out.items():
        np.testing.assert_allclose(value.numpy(), expected[key], atol=1e-5, rtol=0, err_msg=key)
    assert sorted(loaded.signatures["serving_default"].structured_outputs) == sorted(OUTPUT_NAMES)


def test_joint_export_refuses_what_it_cannot_decode(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    v1_head = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=64), joint=True, beam_size=3)
    with pytest.raises(ValueError, match="needs the joint head's answer class"):
        export_saved_model(v1_head, str(tmp_path / "x"), str(vocab), max_seq_length=64,
                           version_2_with_negative=True)
    with pytest.raises(ValueError, match="beam_size=3 exceeds max_seq_length=2"):
        export_saved_model(v1_head, str(tmp_path / "x"), str(vocab), max_seq_length=2)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_cli_exports_a_joint_model_directory(tmp_path, capsys):
    from electra.interop.store import save_model_directory
    from electra.commands.export import main

    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=64), answerability=True, joint=True)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in VOCAB))
    directory = save_model_directory(model, str(tmp_path / "model"), vocab_file=str(vocab), do_lower_case=False,
                                     task="squad", source="test")
    assert main(["--init", directory, "--output_dir", str(tmp_path / "out"), "--max_seq_length", "64",
                 "--beam_size", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head"] == {"joint": True, "beam_size": 4, "answerability": True}
    assert result["settings"]["version_2_with_negative"] is True
    assert load_settings(result["saved_model"])["head"] == {"joint": True, "beam_size": 4, "answerability": True,
                                                            "signature": "beam"}
    inputs = {k: v[:, :64] for k, v in _batch(2).items()}
    model.beam_size = 4                        # what the CLI built: the same weights, a beam of 4
    expected = {k: v.numpy() for k, v in model(inputs, training=False).items()}
    _assert_parity(_serve(result["saved_model"], inputs), expected, 1e-5)
    beam = tf.saved_model.load(result["saved_model"]).signatures["beam"]
    _assert_beam_parity({k: v.numpy() for k, v in beam(**{k: tf.constant(v) for k, v in inputs.items()}).items()},
                        expected)
    assert main(["--init", directory, "--output_dir", str(tmp_path / "bad"), "--max_seq_length", "64",
                 "--beam_size", "65"]) == 2
    assert "--beam_size=65" in capsys.readouterr().err
