"""Every tool answers --help as `python -m data_prep.<name>`, and a bad input exits 2 with a one-line error."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = ["corpus", "build_vocab", "build_pretraining_dataset", "prepare", "download"]


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("tool", TOOLS)
def test_help(tool):
    done = _run(f"data_prep.{tool}", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: python -m data_prep." in done.stdout or "usage: electra-prepare-data" in done.stdout


def test_command_line_pipeline_and_errors(tmp_path):
    text = tmp_path / "in.txt"
    text.write_bytes(b"First document. It has two sentences.\n\nSecond \xff document here.\n\nThird one. Yes.\n")
    shards = tmp_path / "shards"
    done = _run("data_prep.corpus", "--source=text", f"--input={text}", f"--output_dir={shards}",
                "--num_train_shards=1", "--validation_fraction=0.3")
    assert done.returncode == 2 and "in.txt: invalid UTF-8 at byte offset 46" in done.stderr
    assert "Traceback" not in done.stderr and not shards.exists() or not list(shards.iterdir())
    done = _run("data_prep.corpus", "--source=text", f"--input={text}", f"--output_dir={shards}",
                "--num_train_shards=1", "--validation_fraction=0.3", "--errors=replace")
    assert done.returncode == 0, done.stderr
    done = _run("data_prep.build_pretraining_dataset", f"--input={shards}/train-*.txt",
                f"--vocab={tmp_path}/none/vocab.txt", f"--output_dir={tmp_path}/out")
    assert done.returncode == 2 and "not found" in done.stderr and "Traceback" not in done.stderr
