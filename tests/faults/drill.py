"""Fault drill: the faults a run meets on a shared, preemptible cluster, each injected into a tiny run on this
machine; prints one row per fault (fault, expected, observed, ok) and exits 1 when any row fails.

    .venv/bin/python tests/faults/drill.py [--only sigterm,disk_full,...] [--json drill.json]

Faults needing a tmpfs (disk full, read-only) need root to mount one; elsewhere their row says so and is not
counted as a failure. ``tests/faults/test_drill.py`` runs the whole drill in the slow tier.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.disk import fill, read_only, tmpfs  # noqa: E402
from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab  # noqa: E402
from tests.training.conftest import (pretrain_flags, read_log, tiny_model_config, write_records,  # noqa: E402
                                     write_vocab)

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
SCRIPTS = ROOT / "run_scripts"
STEPS = 24


class Skipped(Exception):
    """The fault cannot be injected on this machine (the reason says why)."""


class Drill:
    def __init__(self, work: pathlib.Path):
        self.work = work
        data = work / "data"
        write_records(data / "train", files=3, seed=0)
        write_records(data / "other", files=2, seed=5)
        self.data = {"train": str(data / "train" / "*.tfrecord"), "vocab": write_vocab(data / "vocab.txt")}
        self.model_config = tiny_model_config(data / "model.json")
        self.squad_vocab = str(write_word_vocab(data / "squad_vocab", squad_texts()))
        self._reference = None

    # --- running the tools ------------------------------------------------------------------------------------
    def flags(self, output, **extra):
        extra.setdefault("total_steps", STEPS)
        return pretrain_flags(self.data, str(output), self.model_config, **extra)

    def run(self, args, script="run_pretraining.py", umask=None, **kwargs):
        command = [sys.executable, str(script if os.path.isabs(str(script)) else SCRIPTS / script), *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=900,
                              preexec_fn=(lambda: os.umask(umask)) if umask is not None else None, **kwargs)

    def squad_flags(self, output, train_file=TINY_SQUAD, *extra, steps=8):
        return [f"--output_dir={output}", "--mode=train", f"--train_file={train_file}",
                f"--vocab_file={self.squad_vocab}", "--model_size=tiny", "--max_seq_length=64", "--doc_stride=24",
                "--max_query_length=16", "--train_batch_size=4", f"--max_steps={steps}", "--trainer.log_every=2",
                "--trainer.checkpoint_every=4", "--xla=false", "--learning_rate=1e-3", *extra]

    def reference(self) -> str:
        """The weights digest of an uninterrupted run (what every interrupted one must end with)."""
        if self._reference is None:
            output = self.work / "reference"
            done = self.run(self.flags(output))
            if done.returncode:
                raise RuntimeError(f"the reference run failed:\n{done.stderr[-2000:]}")
            self._reference = _summary(output)["weights_sha256"]
        return self._reference

    def resumes_to_reference(self, output) -> str:
        resumed = self.run(self.flags(output))
        if resumed.returncode:
            return f"resume failed rc {resumed.returncode}: {_last(resumed.stderr)}"
        same = _summary(output)["weights_sha256"] == self.reference()
        return "resumed, weights equal the uninterrupted run" if same else "resumed, weights DIFFER"

    # --- the faults -----------------------------------------------------------------------------------------------
    def _signal(self, name: str, status: int):
        output = self.work / f"signal_{name}"
        process = subprocess.Popen([sys.executable, str(SCRIPTS / "run_pretraining.py"), *self.flags(output)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        deadline = time.time() + 300
        while time.time() < deadline and process.poll() is None:
            if any(r.get("step", 0) >= 5 for r in read_log(str(output))):
                break
            time.sleep(0.05)
        process.send_signal(getattr(signal, "SIG" + name))
        _, stderr = process.communicate(timeout=300)
        stopped = [r for r in read_log(str(output)) if r.get("event") == "stopped"]
        step = stopped[0]["step"] if stopped else None
        saved = step is not None and (output / "checkpoints" / f"ckpt-{step}.index").exists()
        observed = f"rc {process.returncode}, stopped after step {step}, checkpoint {'saved' if saved else 'MISSING'}"
        resumed = self.resumes_to_reference(output)
        return (f"rc {status}, checkpoint at the stop step, resume equals an uninterrupted run",
                f"{observed}; {resumed}", process.returncode == status and saved and "equal" in resumed)

    def sigterm(self):
        """SIGTERM mid-run (a SLURM time limit, a preemption, a Kubernetes eviction)."""
        return self._signal("TERM", 143)

    def sigint(self):
        """Ctrl-C mid-run."""
        return self._signal("INT", 130)

    def second_signal(self):
        """SIGTERM, then SIGTERM again while the stop's checkpoint is being written."""
        output = self.work / "second_signal"
        done = self.run(["7", "--signal=TERM", "--again-in-save", *self.flags(output)],
                        ROOT / "tests" / "training" / "kill_at_step.py")
        resumed = self.resumes_to_reference(output)
        return ("ends at once (killed by the signal), previous checkpoint usable, resume equals uninterrupted",
                f"rc {done.returncode}; {resumed}", done.returncode == -signal.SIGTERM and "equal" in resumed)

    def disk_full(self):
        """The run directory's disk fills up before a checkpoint save."""
        with tmpfs(self.work / "full", unavailable=_skip) as disk:
            output = disk / "run"
            first = self.run(self.flags(output) + ["--steps_this_run=10"])
            if first.returncode:
                return "", f"set-up run failed: {_last(first.stderr)}", False
            filler = fill(disk, leave=48 * 1024)
            failed = self.run(self.flags(output))
            line = _last(failed.stderr)
            events = [r["event"] for r in read_log(str(output)) if r.get("event") == "error"]
            left = glob.glob(str(output / "checkpoints" / "**" / "*_temp"), recursive=True)
            os.remove(filler)
            resumed = self.resumes_to_reference(output)
            ok = (failed.returncode == 74 and "No space left on device" in line and "Traceback" not in failed.stderr
                  and events == ["error"] and "equal" in resumed)
            return ("rc 74, one line naming the path, an error event; after freeing space the run resumes",
                    f"rc {failed.returncode}: {line[:150]}; events {events}; {len(left)} partial save(s) left, "
                    f"removed at the next start; {resumed}", ok)

    def read_only(self):
        """The run directory is on a read-only file system."""
        with tmpfs(self.work / "ro", unavailable=_skip) as disk:
            output = disk / "run"
            first = self.run(self.flags(output) + ["--steps_this_run=5"])
            read_only(disk)
            failed = self.run(self.flags(output))
            lines = failed.stderr.strip().splitlines()
            ok = first.returncode == 0 and failed.returncode == 74 and len(lines) == 1 and \
                "Read-only file system" in lines[0]
            return "rc 74, one line naming the path", f"rc {failed.returncode}: {_last(failed.stderr)[:150]}", ok

    def umask(self):
        """Files another user (a serving process) must read: every output under umask 022 and 077."""
        observed, ok = [], True
        for mask in (0o022, 0o077):
            output = self.work / f"umask_{mask:03o}"
            done = self.run(self.flags(output, total_steps=4, checkpoint_every=2), umask=mask)
            wrong = [f"{p} {oct(m)}" for p, m in _modes(output) if m != (0o777 if os.path.isdir(p) else 0o666) & ~mask]
            ok &= done.returncode == 0 and not wrong
            observed.append(f"umask {mask:03o}: {len(list(_modes(output)))} paths, {len(wrong)} wrong" +
                            (f" ({wrong[0]})" if wrong else ""))
        return "files 0666 & ~umask, directories 0777 & ~umask", "; ".join(observed), ok

    def restore_none(self):
        """--trainer.restore=none into a directory holding another run's checkpoints."""
        output = self.work / "restore_none"
        self.run(self.flags(output, total_steps=4, checkpoint_every=2))
        refused = self.run(self.flags(output, total_steps=4, learning_rate=1e-3) + ["--trainer.restore=none"])
        line = _last(refused.stderr)
        ok = refused.returncode == 2 and str(output) in line and "--trainer.overwrite" in line
        return "rc 2 naming the directory and --trainer.overwrite", f"rc {refused.returncode}: {line[:160]}", ok

    def squad_other_train_file(self):
        """SQuAD resumed with another --data.train_file."""
        output = self.work / "squad_resume"
        first = self.run(self.squad_flags(output) + ["--trainer.steps_this_run=4"], "run_squad.py")
        other = self.work / "other_squad.json"
        data = json.loads(TINY_SQUAD.read_text(encoding="utf-8"))
        data["data"] = data["data"][:max(1, len(data["data"]) // 2)]
        other.write_text(json.dumps(data), encoding="utf-8")
        resumed = self.run(self.squad_flags(output, other), "run_squad.py")
        events = [r["event"] for r in read_log(str(output)) if r.get("event")]
        ok = first.returncode == 0 and resumed.returncode == 0 and "input_position_reset" in events
        return ("trains to the end with a fresh input position (input_position_reset)",
                f"rc {resumed.returncode}, events {events}" + (f": {_last(resumed.stderr)}" if resumed.returncode
                                                                else ""), ok)

    def bad_predict_file(self):
        """--data.predict_file with a duplicate question id, in --mode=train_eval."""
        output = self.work / "bad_predict"
        data = json.loads(TINY_SQUAD.read_text(encoding="utf-8"))
        qas = data["data"][0]["paragraphs"][0]["qas"]
        qas.append(dict(qas[0]))
        bad = self.work / "duplicate_ids.json"
        bad.write_text(json.dumps(data), encoding="utf-8")
        done = self.run([a.replace("--mode=train", "--mode=train_eval") for a in self.squad_flags(output)] +
                        [f"--predict_file={bad}"], "run_squad.py")
        trained = (output / "checkpoints").exists() or (output / "train_log.jsonl").exists()
        return ("rc 2 naming the file, before any training", f"rc {done.returncode}, trained first: {trained}: "
                f"{_last(done.stderr)[:140]}", done.returncode == 2 and not trained and str(bad) in done.stderr)

    def out_of_range(self):
        """Values out of range, on the command line and in a recipe."""
        flag = self.run(self.flags(self.work / "range") + ["--optimizer.beta_1=1.5"])
        recipe = self.work / "recipe.json"
        recipe.write_text('{"optimizer": {"learning_rate": Infinity}}', encoding="utf-8")
        from_recipe = self.run(self.flags(self.work / "range") + [f"--config={recipe}"])
        ok = flag.returncode == from_recipe.returncode == 2 and "beta_1" in flag.stderr and \
            str(recipe) in from_recipe.stderr
        return ("rc 2 naming the flag (and the recipe file)",
                f"{_last(flag.stderr)[:90]} | {_last(from_recipe.stderr)[:110]}", ok)

    def conflicting_settings(self):
        """The same setting twice with different values (alias and dotted name)."""
        done = self.run(self.flags(self.work / "conflict") + ["--learning_rate=1e-3", "--optimizer.learning_rate=2e-3"])
        line = _last(done.stderr)
        return ("rc 2 naming both", f"rc {done.returncode}: {line[:150]}",
                done.returncode == 2 and "learning_rate" in line and "optimizer.learning_rate" in line)

    def damaged_cache(self):
        """A truncated SQuAD feature cache."""
        cache = self.work / "cache"
        first = self.run(self.squad_flags(self.work / "cache_a", TINY_SQUAD, f"--cache_dir={cache}", steps=2),
                         "run_squad.py")
        cached = glob.glob(str(cache / "*.npz"))
        if first.returncode or len(cached) != 1:
            return "", f"set-up run rc {first.returncode}, {len(cached)} cache file(s): {_last(first.stderr)}", False
        (path,) = cached
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        second = self.run(self.squad_flags(self.work / "cache_b", TINY_SQUAD, f"--cache_dir={cache}", steps=2),
                          "run_squad.py")
        ok = first.returncode == second.returncode == 0 and path in second.stderr
        return "rebuilt with a warning naming the file", f"rc {second.returncode}; warning names it: {ok}", ok

    def missing_input(self):
        """Training files that do not exist."""
        output = self.work / "missing"
        started = time.time()
        done = self.run(self.flags(output, train_files="/nonexistent/*"))
        seconds = time.time() - started
        lines = done.stderr.strip().splitlines()
        ok = done.returncode == 2 and len(lines) == 1 and "Error" not in lines[0] and \
            not (output / "run.lock").exists()
        return ("rc 2, one line without a class name, no lock left, before TensorFlow loads",
                f"rc {done.returncode} in {seconds:.1f} s: {lines[-1][:120] if lines else ''}", ok)


FAULTS = ("sigterm", "sigint", "second_signal", "disk_full", "read_only", "umask", "restore_none",
          "squad_other_train_file", "bad_predict_file", "out_of_range", "conflicting_settings", "damaged_cache",
          "missing_input")


def _skip(reason: str):
    raise Skipped(reason)


def _modes(directory: pathlib.Path):
    for base, directories, files in os.walk(directory):
        for name in directories + files:
            path = os.path.join(base, name)
            yield path, stat.S_IMODE(os.lstat(path).st_mode)


def _summary(output) -> dict:
    with open(os.path.join(output, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def _last(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def drill(names=FAULTS, work: str | None = None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=work) as directory:
        faults = Drill(pathlib.Path(directory))
        for name in names:
            method = getattr(faults, name)
            started = time.time()
            try:
                expected, observed, ok = method()
                status = "ok" if ok else "FAILED"
            except Skipped as e:
                expected, observed, status = "", str(e), "skipped"
            rows.append({"fault": method.__doc__.strip(), "name": name, "expected": expected, "observed": observed,
                         "status": status, "seconds": round(time.time() - started, 1)})
            print(f"[{status}] {name}: {observed}", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| fault | expected | observed | |", "|---|---|---|---|"]
    lines += [f"| {r['fault']} | {r['expected']} | {r['observed']} | {r['status']} |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated fault names: " + ", ".join(FAULTS))
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else FAULTS
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        parser.error(f"unknown fault(s) {unknown}; choose from {', '.join(FAULTS)}")
    rows = drill(names)
    print(table(rows))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 1 if any(r["status"] == "FAILED" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
