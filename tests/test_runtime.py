"""``electra.runtime``: the XLA default, and oneDNN switched on by importing ``electra`` before TensorFlow in every
entry script."""
import pytest

from electra import runtime


def test_xla_default_follows_the_device(monkeypatch):
    import tensorflow as tf
    assert runtime.resolve_xla(True) is True and runtime.resolve_xla(False) is False
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert runtime.resolve_xla(None) is False
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu"] if kind == "GPU" else [])
    assert runtime.resolve_xla(None) is True


def _module_level_imports(path):
    import ast
    return [node for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, (ast.Import, ast.ImportFrom))]


def _imported(node) -> list[str]:
    import ast
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]


TORCH_ONLY = ("peer.py", "finetune_accuracy_reference.py")   # the peer processes: PyTorch, never TensorFlow


def test_every_entry_script_imports_electra_before_tensorflow():
    """TF_ENABLE_ONEDNN_OPTS is read once, when TensorFlow loads: an entry script that reached TensorFlow or Keras
    (directly or through absl-free helpers) before ``electra`` would run without the oneDNN kernels."""
    import pathlib
    root = pathlib.Path(__file__).parent.parent
    scripts = sorted([*(root / "run_scripts").glob("*.py"), *(root / "benchmarks").glob("*.py")])
    checked = 0
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        if "tensorflow" not in text and "keras" not in text and "electra" not in text:
            continue
        if '__name__ == "__main__"' not in text or script.name in TORCH_ONLY:   # libraries; the peers
            continue
        roots = [name.split(".")[0] for node in _module_level_imports(script) for name in _imported(node)]
        assert "electra" in roots, f"{script.name}: no module-level 'import electra'"
        first = roots.index("electra")
        assert not {"tensorflow", "keras", "tf_keras"} & set(roots[:first]), \
            f"{script.name}: TensorFlow/Keras imported before electra"
        checked += 1
    assert checked >= 10


def _tensorflow_import_log(env_value):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    code = ("import sys, electra, tensorflow as tf; from electra.runtime import onednn_enabled; tf.constant(1); "
            "print('onednn_enabled', onednn_enabled(), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.mark.slow
def test_importing_electra_turns_tensorflow_onednn_on_and_an_explicit_zero_is_kept():
    """TensorFlow itself says which way it loaded: 'oneDNN custom operations are on' at import, and
    ``electra.runtime.onednn_enabled`` agrees."""
    default = _tensorflow_import_log(None)
    assert "oneDNN custom operations are on" in default and "onednn_enabled True" in default
    isa = runtime.cpu_info()["isa"]
    if not any(isa.get(f) for f in ("avx_vnni", "avx512_vnni", "avx512_bf16", "amx_tile")):  # else TF turns it on
        off = _tensorflow_import_log("0")
        assert "oneDNN custom operations are on" not in off and "onednn_enabled False" in off
