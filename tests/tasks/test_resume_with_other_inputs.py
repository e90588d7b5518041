"""A resume whose training input differs (other files, other contents, other pipeline settings) continues with a
fresh input position and logs ``input_position_reset``, for every task; a saved input position is never restored
into a pipeline it does not fit, even after a run that reset it was killed before its first save."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from electra import cli
from electra.configs import PretrainConfig, SquadConfig
from electra.tasks import pretraining, squad
from tests.training.conftest import ROOT, pretraining_data, read_log, tiny_model_config, write_records  # noqa: F401

pytestmark = pytest.mark.slow
SQUAD = dict(mode="train", model_size="tiny", version_2_with_negative=True, train_batch_size=8, max_steps=6,
             checkpoint_every=3, log_every=1, xla=False, max_seq_length=64, doc_stride=24, max_query_length=16)


def _resets(output):
    return [r for r in read_log(str(output)) if r.get("event") == "input_position_reset"]


def test_squad_resumed_with_another_train_file_trains_to_the_end(tmp_path, tiny_vocab, tiny_squad_file):
    """Run A stops at ckpt-3; B resumes with a smaller train file and is killed before its first save; C resumes
    with that file again: both see that ckpt-3's input position belongs to A's file, and C trains to step 6."""
    output = tmp_path / "out"
    data = json.loads(tiny_squad_file.read_text(encoding="utf-8"))
    data["data"] = data["data"][:2]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data), encoding="utf-8")
    settings = dict(SQUAD, output_dir=str(output), vocab_file=str(tiny_vocab), train_file=str(tiny_squad_file))
    assert squad.run(cli.build(SquadConfig, {**settings, "steps_this_run": 3}))["train"]["step"] == 3
    assert not _resets(output)

    table = cli.flag_table(SquadConfig, leaf_names=True)
    flags = [f"--{table[k].name}={v}" for k, v in {**settings, "train_file": str(other)}.items()]
    killed = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "training", "kill_at_step.py"), "2",
                             "--squad", *flags], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert len(_resets(output)) == 1

    result = squad.run(cli.build(SquadConfig, {**settings, "train_file": str(other)}))
    assert result["train"]["step"] == 6
    resets = _resets(output)
    assert [r["step"] for r in resets] == [3, 3]
    assert "1 file(s) added (e.g. " + str(other) in resets[0]["message"]
    assert "the training input differs" in resets[1]["message"]
    assert [r["step"] for r in read_log(str(output)) if r["type"] == "train"] == [1, 2, 3, 4, 5, 6]


def test_pretraining_resumed_with_rewritten_train_files_resets_the_input_position(pretraining_data, tmp_path):  # noqa: F811
    """The same file names, same sizes, other records: the content digest tells them apart."""
    data = dict(pretraining_data, train=str(tmp_path / "train" / "*.tfrecord"))
    shutil.copytree(os.path.dirname(pretraining_data["train"]), tmp_path / "train")
    output, model_config = tmp_path / "run", tiny_model_config(tmp_path / "m.json")
    settings = dict(output_dir=str(output), config_file=model_config, train_files=data["train"],
                    vocab_file=data["vocab"], max_seq_length=32, train_batch_size=4, total_steps=8, warmup_steps=1,
                    log_every=2, checkpoint_every=4, eval_every=0, xla=False, shuffle_buffer=16)
    pretraining.run(cli.build(PretrainConfig, {**settings, "steps_this_run": 4}))
    sizes = {n: os.path.getsize(tmp_path / "train" / n) for n in os.listdir(tmp_path / "train")}
    write_records(tmp_path / "train", files=3, seed=5)
    assert sizes == {n: os.path.getsize(tmp_path / "train" / n) for n in os.listdir(tmp_path / "train")}
    assert pretraining.run(cli.build(PretrainConfig, settings))["step"] == 8
    [reset] = _resets(output)
    assert reset["step"] == 4 and "3 file(s) changed" in reset["message"]
