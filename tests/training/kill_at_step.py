"""Run run_pretraining.py (or, with --squad first, run_squad.py; with --finetune, run_finetune.py) and send the process a signal right after
optimizer step N: SIGKILL by default (a crash mid-run, for resume tests), or ``--signal=TERM`` (a scheduler's stop
request); with ``--again-in-save`` the same signal comes a second time while the stop's checkpoint is being saved.
Under horovodrun, ``KILL_RANK=r`` signals that rank only.

    python tests/training/kill_at_step.py N [--signal=NAME] [--again-in-save] [--squad|--finetune] FLAGS...
"""
import os
import runpy
import signal
import sys

kill_at = int(sys.argv.pop(1))
signum = signal.SIGKILL
if sys.argv[1].startswith("--signal="):
    signum = getattr(signal, "SIG" + sys.argv.pop(1).split("=", 1)[1])
again_in_save = sys.argv[1] == "--again-in-save"
if again_in_save:
    sys.argv.pop(1)
from electra.training import checkpointing, trainer  # noqa: E402

original_step = trainer.Trainer.train_step
original_save = checkpointing.TrainingState.save
calls = {"n": 0}


def train_step(self, micro_batches):
    out = original_step(self, micro_batches)
    calls["n"] += 1
    if calls["n"] == kill_at and os.environ.get("KILL_RANK", os.environ.get("HOROVOD_RANK", "0")) == \
            os.environ.get("HOROVOD_RANK", "0"):
        os.kill(os.getpid(), signum)
    return out


def save(self):
    if again_in_save and calls["n"] >= kill_at:     # between this rank's input state and the model checkpoint
        main_save = self.manager.save

        def interrupted_save(*args, **kwargs):
            os.kill(os.getpid(), signum)
            return main_save(*args, **kwargs)
        self.manager.save = interrupted_save
    return original_save(self)


trainer.Trainer.train_step = train_step
checkpointing.TrainingState.save = save
SCRIPTS = {"--squad": "run_squad.py", "--finetune": "run_finetune.py"}
script = SCRIPTS.get(sys.argv[1], "run_pretraining.py")
if sys.argv[1] in SCRIPTS:
    sys.argv.pop(1)
sys.argv[0] = os.path.join(os.path.dirname(__file__), "..", "..", "run_scripts", script)
runpy.run_path(sys.argv[0], run_name="__main__")
