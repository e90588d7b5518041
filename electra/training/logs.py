"""Run logs: one JSON object per line (``train_log.jsonl``, schema in ``electra.training.experiment``) beside
TensorBoard event files, and a progress bar on a terminal. Only the chief worker writes."""
from __future__ import annotations

import json
import logging
import os
import sys

import tensorflow as tf
from tqdm import tqdm

from electra.io import StorageError, atomic_write, storing

log = logging.getLogger("electra.training")


def read_log(path: str) -> list[dict]:
    """The records of a ``train_log.jsonl``; a line cut short by a kill or a full disk is skipped with a warning."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                log.warning("%s line %d is not complete JSON (%d characters, written when a run was interrupted); "
                            "dropped", path, number, len(line))
    return records


class RunLog:
    def __init__(self, output_dir: str, enabled: bool, total_steps: int, start_step: int, task: str,
                 fresh_start: bool = False):
        """``fresh_start``: no checkpoint was restored, so eval records left at ``start_step`` by an earlier attempt
        (``--trainer.eval_at_start`` of a run killed before its first checkpoint) are dropped too: this run
        evaluates its initial model again."""
        self.enabled, self.total_steps, self.task = enabled, total_steps, task
        self.path = os.path.join(output_dir, "train_log.jsonl")
        self.bar = None
        if not enabled:
            return
        self._truncate_after(start_step, drop_evals=fresh_start)
        os.makedirs(os.path.join(output_dir, "tensorboard"), exist_ok=True)   # the umask's mode, not TF's 0755
        self.writer = tf.summary.create_file_writer(os.path.join(output_dir, "tensorboard"))
        if sys.stderr.isatty():
            self.bar = tqdm(total=total_steps, initial=start_step, desc=task, dynamic_ncols=True)

    def _truncate_after(self, step: int, drop_evals: bool = False) -> None:
        """A resumed run redoes the steps after its checkpoint: drop their old lines (written before a kill)."""
        if not os.path.exists(self.path):
            return
        kept = [r for r in read_log(self.path) if r.get("step", 0) <= step
                and not (drop_evals and r.get("type") == "eval" and r.get("step", 0) == step)]
        with atomic_write(self.path) as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in kept)

    def write(self, record: dict) -> None:
        """A ``train`` or ``eval`` record: the file, TensorBoard (``train/…``, ``eval/…``), and a console line."""
        if not self.enabled:
            return
        record = {"task": self.task, **record}
        self._append(record)
        kind = record["type"]
        if kind == "train" and self.bar is not None:
            self.bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=True)
        elif kind == "train":
            print(f"step {record['step']}/{self.total_steps}  loss {record['loss']:.4f}  "
                  f"lr {record['learning_rate']:.2e}  {record['sequences_per_second']:.1f} seq/s  "
                  f"eta {record['eta_seconds']:.0f}s", flush=True)
        else:
            self.message(f"step {record['step']} {kind}: " + "  ".join(
                f"{k} {v:.4f}" for k, v in record["metrics"].items() if isinstance(v, (int, float))))
        scalars = {k: v for k, v in record.items() if k not in ("step", "type", "task", "metrics")}
        scalars.update(record.get("metrics", {}))
        with storing(os.path.join(os.path.dirname(self.path), "tensorboard")):
            with self.writer.as_default(step=record["step"]):
                for key, value in scalars.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        tf.summary.scalar(f"{kind}/{key}", value)
            self.writer.flush()

    def _append(self, record: dict) -> None:
        """One line, whole or not at all: a line cut short by a full disk is taken back, so the file stays a
        sequence of complete records."""
        line = (json.dumps(record, sort_keys=True, default=float) + "\n").encode("utf-8")
        with storing(self.path, "the log up to this line and the checkpoints are intact: free space (or make it "
                                "writable) and rerun the same command to resume"):
            with open(self.path, "ab") as f:
                start = f.tell()
                try:
                    f.write(line)
                    f.flush()
                except OSError:
                    f.truncate(start)
                    raise

    def event(self, step: int, event: str, text: str, **fields) -> None:
        """Something a reader of the log must know about (not a metric): a line of its own, and on the console."""
        if not self.enabled:
            return
        self._append({"type": "event", "task": self.task, "step": step, "event": event, "message": text, **fields})
        self.message(f"step {step}: {text}")

    def error(self, step: int, error: StorageError) -> None:
        """Record why the run stopped, when the log can still take a line (a full disk may refuse it too)."""
        try:
            self.event(step, "error", str(error), path=error.path, cause=error.strerror)
        except OSError:
            pass

    def progress(self, step: int) -> None:
        if self.bar is not None:
            self.bar.n = step
            self.bar.refresh()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
