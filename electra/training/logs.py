"""Run logs: one JSON object per line (``train_log.jsonl``) beside TensorBoard event files, and a progress bar on
a terminal. Only the chief worker writes."""
from __future__ import annotations

import json
import logging
import os
import sys

import tensorflow as tf
from tqdm import tqdm

log = logging.getLogger("electra.training")


class RunLog:
    def __init__(self, output_dir: str, enabled: bool, total_steps: int, start_step: int):
        self.enabled, self.total_steps = enabled, total_steps
        self.path = os.path.join(output_dir, "train_log.jsonl")
        self.bar = None
        if not enabled:
            return
        self._truncate_after(start_step)
        self.writer = tf.summary.create_file_writer(os.path.join(output_dir, "tensorboard"))
        if sys.stderr.isatty():
            self.bar = tqdm(total=total_steps, initial=start_step, desc="pretraining", dynamic_ncols=True)

    def _truncate_after(self, step: int) -> None:
        """A resumed run redoes the steps after its checkpoint: drop their old lines (written before a kill)."""
        if not os.path.exists(self.path):
            return
        kept = []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:   # cut short by a kill or a full disk during an append
                log.warning("%s line %d is not complete JSON (%d characters, written when a run was interrupted); "
                            "dropped", self.path, number, len(line))
                continue
            if record.get("step", 0) <= step:
                kept.append(line + "\n")
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(kept)
        os.replace(tmp, self.path)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self._append(record)
        if self.bar is None and "loss" in record:  # no terminal: a plain progress line per logged step
            print(f"step {record['step']}/{self.total_steps}  loss {record['loss']:.4f}  "
                  f"disc_acc {record['disc_accuracy']:.3f}  lr {record['learning_rate']:.2e}  "
                  f"{record['sequences_per_second']:.1f} seq/s  eta {record['eta_seconds']:.0f}s", flush=True)
        with self.writer.as_default(step=record["step"]):
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    tf.summary.scalar(key.replace("validation_", "validation/"), value)
        self.writer.flush()

    def _append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def event(self, step: int, event: str, text: str, **fields) -> None:
        """Something a reader of the log must know about (not a metric): a line of its own, and on the console."""
        if not self.enabled:
            return
        self._append({"step": step, "event": event, "message": text, **fields})
        self.message(f"step {step}: {text}")

    def progress(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=True)

    def message(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else print)(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
