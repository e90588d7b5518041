"""Run run_pretraining.py (or, with --squad first, run_squad.py) but SIGKILL the process right after optimizer
step N (a crash mid-run, for resume tests)."""
import os
import runpy
import signal
import sys

kill_at = int(sys.argv.pop(1))
from electra.training import trainer  # noqa: E402

original = trainer.Trainer.train_step
calls = {"n": 0}


def train_step(self, micro_batches):
    out = original(self, micro_batches)
    calls["n"] += 1
    if calls["n"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return out


trainer.Trainer.train_step = train_step
script = "run_squad.py" if sys.argv[1:2] == ["--squad"] else "run_pretraining.py"
if script == "run_squad.py":
    sys.argv.pop(1)
sys.argv[0] = os.path.join(os.path.dirname(__file__), "..", "..", "run_scripts", script)
runpy.run_path(sys.argv[0], run_name="__main__")
