import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from electra.export import export_saved_model, load_settings
from electra.modeling import ElectraForQuestionAnswering
from tests.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOAD_IN_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    export_dir, inputs_file, out_file = sys.argv[1:]
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    inputs = dict(np.load(inputs_file))
    out = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    args, kwargs = serve.structured_input_signature
    spec = {"inputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in kwargs.items()},
            "outputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in serve.structured_outputs.items()}}
    np.savez(out_file, **{k: v.numpy() for k, v in out.items()})
    print(json.dumps(spec))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = ElectraForQuestionAnswering(tiny_config(max_position_embeddings=384))
    vocab = root / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]))
    export_dir = export_saved_model(model, str(root / "saved_model"), str(vocab), do_lower_case=False,
                                    doc_stride=100)
    return model, export_dir, root


def test_signature_and_parity_in_a_fresh_process(exported):
    model, export_dir, root = exported
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 60, size=(3, 384)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 200:] = 0
    ids[1, 200:] = 0
    segments = np.zeros_like(ids)
    segments[:, 20:] = 1
    segments *= mask
    inputs = {"input_ids": ids, "input_mask": mask, "segment_ids": segments}
    np.savez(root / "inputs.npz", **inputs)
    out = subprocess.run([sys.executable, "-c", LOAD_IN_FRESH_PROCESS, export_dir, str(root / "inputs.npz"),
                          str(root / "outputs.npz")], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    spec = json.loads(out.stdout.strip().splitlines()[-1])
    assert spec["inputs"] == {k: ["int32", [None, 384]] for k in ("input_ids", "input_mask", "segment_ids")}
    assert spec["outputs"] == {k: ["float32", [None, 384]] for k in ("start_logits", "end_logits")}
    served = np.load(root / "outputs.npz")
    expected = model(inputs, training=False)
    for key in ("start_logits", "end_logits"):
        np.testing.assert_allclose(served[key], expected[key].numpy(), atol=1e-5, rtol=0)


def test_assets_carry_vocab_and_settings(exported):
    model, export_dir, _ = exported
    settings = load_settings(export_dir)
    assert settings["max_seq_length"] == 384 and settings["doc_stride"] == 100
    assert settings["max_query_length"] == 64 and settings["do_lower_case"] is False
    assert os.path.isfile(os.path.join(export_dir, "assets", settings["vocab_file"]))
    assert settings["model_config"] == model.config.to_dict()


def test_export_refuses_bad_settings(exported, tmp_path):
    model, _, root = exported
    with pytest.raises(ValueError, match="unknown export setting"):
        export_saved_model(model, str(tmp_path / "x"), str(root / "vocab.txt"), max_seq=3)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        export_saved_model(model, str(tmp_path / "x"), str(root / "vocab.txt"), max_seq_length=512)
    with pytest.raises(FileNotFoundError):
        export_saved_model(model, str(tmp_path / "x"), str(tmp_path / "nope.txt"))
