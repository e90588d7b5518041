"""Everything the project writes gets the modes the umask gives, like ``open()`` and ``os.makedirs()``: files
0o666 & ~umask, directories 0o777 & ~umask, nothing executable. Under umask 022 a serving process running as another
user reads the fine-tuned model; under 077 nothing is readable by others; under 002 (a group-shared project
directory) the group may write everything. Each tool runs in a subprocess whose umask is set before it starts: data
preparation, a pretraining run and its resume, an extraction, a SQuAD fine-tuning run with its export, and
``electra-export`` to SavedModel and ONNX."""
import os
import stat
import subprocess
import sys

import pytest

from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab
from tests.training.conftest import pretrain_flags, tiny_model_config, write_records, write_vocab

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wrong_modes(top, umask):
    """``(path, found, expected)`` of every file and directory below ``top`` (``top`` included) whose permission
    bits are not the umask's."""
    wrong = []
    for directory, dirs, files in os.walk(top):
        for path, expected in [(directory, 0o777 & ~umask)] + [(os.path.join(directory, f), 0o666 & ~umask)
                                                                for f in files]:
            info = os.lstat(path)
            if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) != expected:
                wrong.append((os.path.relpath(path, top), oct(stat.S_IMODE(info.st_mode)), oct(expected)))
    return wrong


def run(args, umask):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                          preexec_fn=lambda: os.umask(umask))
    assert done.returncode == 0, f"{args[:2]} failed ({done.returncode}):\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("umask", [pytest.param(0o022, id="umask022"), pytest.param(0o077, id="umask077"),
                                   pytest.param(0o002, id="umask002")])
def test_every_output_has_the_umask_modes(tmp_path, umask):
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    write_records(inputs / "train", files=1, per_file=16)
    data = {"train": str(inputs / "train" / "*.tfrecord"), "vocab": write_vocab(inputs / "vocab.txt")}
    config = tiny_model_config(inputs / "model.json")
    squad_vocab = write_word_vocab(inputs / "squad", squad_texts())
    text = inputs / "corpus.txt"
    text.write_text("".join(f"Document {d} has a first sentence. And a second one, number {d}.\n\n"
                            for d in range(40)), encoding="utf-8")
    script = lambda name: os.path.join(ROOT, "run_scripts", name)  # noqa: E731

    run(["-m", "data_prep.prepare", f"--output_dir={out / 'data'}", "--source=text", f"--input={text}",
         "--vocab_size=120", "--max_seq_length=32", "--num_train_shards=1", "--num_train_files=1"], umask)
    pretraining = out / "pretraining"
    run([script("run_pretraining.py"), *pretrain_flags(data, pretraining, config, total_steps=2,
                                                       checkpoint_every=2)], umask)
    run([script("run_pretraining.py"), *pretrain_flags(data, pretraining, config, total_steps=4,
                                                       checkpoint_every=2)], umask)
    run([script("postprocess_pretrained.py"), f"--pretrained_checkpoint={pretraining}",
         f"--output_dir={out / 'extracted'}"], umask)
    squad = out / "squad"
    run([script("run_squad.py"), f"--output_dir={squad / 'run'}", "--mode=train_eval", f"--train_file={TINY_SQUAD}",
         f"--predict_file={TINY_SQUAD}", f"--vocab_file={squad_vocab}", "--model_size=tiny",
         "--max_seq_length=64", "--doc_stride=24", "--max_query_length=16", "--train_batch_size=4",
         "--max_steps=2", "--xla=false", f"--export_dir={squad / 'saved_model'}",
         f"--data.cache_dir={squad / 'cache'}"], umask)
    run([script("export_saved_model.py"), f"--init={squad / 'run'}", f"--output_dir={squad / 'export'}",
         "--formats=saved_model,onnx"], umask)

    for part in ("data", "pretraining", "extracted", "squad/run", "squad/saved_model", "squad/cache",
                 "squad/export"):
        assert any(files for _, _, files in os.walk(out / part)), f"{part} holds no file"
    assert (out / "squad" / "export" / "model.onnx").is_file()
    wrong = wrong_modes(out, umask)
    assert not wrong, "\n".join(f"{path}: {found}, expected {expected}" for path, found, expected in wrong)
