"""Sentence shards → packed pretraining TFRecords (``input_ids``, ``input_mask``, ``segment_ids``; int64,
fixed length ``max_seq_length``), the features google-research/electra and NVIDIA's readers expect.

Packing follows google-research/electra's ``build_pretraining_dataset.py``: sentences of a document are
accumulated until they reach the target length (or the document ends), then split into ``[CLS] A [SEP] B [SEP]``:
A takes sentences while it stays under half the budget (a sentence that would overflow it joins A half the
time while B is still empty); the rest is B. 10% of sequences are a single segment ``[CLS] A [SEP]``; after each
sequence the next target length is, 5% of the time, a random length in [5, max_seq_length]. A is truncated to
``max_seq_length - 2`` tokens and B to what is left, so tokens are lost only when a sequence is full. One
deliberate difference: sentences stay in order (Google's loop can put a later, shorter sentence back into A
after B has started).

Determinism: output file ``k`` of ``N`` is built from the documents assigned to it (input file ``f`` goes to
output ``f mod N``; when there are more outputs than inputs, input ``f``'s documents are dealt round-robin over
the outputs ``k ≡ f (mod #inputs)``) with a random generator seeded by ``(seed, k)``, so the bytes depend only on
the inputs, the settings and the seed — never on the number of processes. Each file is written under a
temporary name and renamed when complete; a rerun skips finished files (same settings, checked through a
fingerprint in a hidden ``.<file>.json`` beside it) and rebuilds the rest.

    python -m data_prep.build_pretraining_dataset --input 'data/shards/train-*.txt' --vocab data/vocab/vocab.txt \\
        --output_dir data/tfrecords/seq128 --max_seq_length 128 --num_output_files 64 --num_processes 8
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import queue
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from data_prep.common import (DataPrepError, ERRORS_CHOICES, atomic_write_text, check_utf8, expand_inputs, file_sha256,
                              iter_lines, log, remove_temps, setup_logging, temp_path)
from data_prep.tfrecord import TFRecordWriter, encode_pretraining_example

FEATURES = ("input_ids", "input_mask", "segment_ids")
MIN_SEQ_LENGTH = 8


# -------------------------------------------------------------------------------------------------- packing

@dataclasses.dataclass(frozen=True)
class PackingConfig:
    max_seq_length: int = 128
    short_seq_prob: float = 0.05        # next target length random in [5, max_seq_length]
    single_segment_prob: float = 0.1    # [CLS] A [SEP] only

    def __post_init__(self):
        if self.max_seq_length < MIN_SEQ_LENGTH:
            raise DataPrepError(f"max_seq_length must be at least {MIN_SEQ_LENGTH}, got {self.max_seq_length}")
        for name in ("short_seq_prob", "single_segment_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DataPrepError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclasses.dataclass
class PackedSequence:
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int]
    first_length: int       # tokens of A (after truncation)
    second_length: int      # tokens of B (0: single segment)
    dropped: int            # tokens lost to truncation


class SequencePacker:
    """Feed sentences (token ids) with ``add_sentence`` and call ``end_document`` at each document boundary;
    both return a finished ``PackedSequence`` or None."""

    def __init__(self, config: PackingConfig, cls_id: int, sep_id: int, pad_id: int, rng: random.Random):
        self.config = config
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.rng = rng
        self._sentences: list[list[int]] = []
        self._length = 0
        self._target = config.max_seq_length

    def add_sentence(self, ids: list[int]) -> PackedSequence | None:
        if not ids:
            return None
        self._sentences.append(ids)
        self._length += len(ids)
        if self._length >= self._target:
            return self._pack()
        return None

    def end_document(self) -> PackedSequence | None:
        return self._pack() if self._length else None

    def _pack(self) -> PackedSequence:
        max_len, rng = self.config.max_seq_length, self.rng
        if rng.random() < self.config.single_segment_prob:
            first_budget = None                                  # everything goes to A
        else:
            first_budget = (self._target - 3) // 2
        first: list[int] = []
        second: list[int] = []
        for sentence in self._sentences:
            if first_budget is None:
                first += sentence
            elif second:                                         # once B has started, the rest is B
                second += sentence
            elif (not first or len(first) + len(sentence) < first_budget
                  or (len(first) < first_budget and rng.random() < 0.5)):
                first += sentence
            else:
                second += sentence
        total = len(first) + len(second)
        first = first[:max_len - 2]
        second = second[:max(0, max_len - len(first) - 3)]
        dropped = total - len(first) - len(second)

        self._sentences, self._length = [], 0
        if rng.random() < self.config.short_seq_prob:
            self._target = rng.randint(5, max_len)
        else:
            self._target = max_len
        return self._make(first, second, dropped)

    def _make(self, first: list[int], second: list[int], dropped: int) -> PackedSequence:
        max_len = self.config.max_seq_length
        ids = [self.cls_id, *first, self.sep_id]
        segments = [0] * len(ids)
        if second:
            ids += second
            ids.append(self.sep_id)
            segments += [1] * (len(second) + 1)
        real = len(ids)
        pad = max_len - real
        return PackedSequence(ids + [self.pad_id] * pad, [1] * real + [0] * pad, segments + [0] * pad,
                              len(first), len(second), dropped)


# -------------------------------------------------------------------------------------------------- work plan

@dataclasses.dataclass(frozen=True)
class FileTask:
    index: int
    num_files: int
    output: str
    inputs: tuple[tuple[str, int, int], ...]   # (path, take every `stride`-th document, starting at `offset`)
    vocab: str
    lower_case: bool | None
    packing: PackingConfig
    seed: int
    errors: str
    fingerprint: str


def output_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}.tfrecord"


def _stats_path(output: str) -> str:
    directory, name = os.path.split(output)
    return os.path.join(directory, f".{name}.json")


def assign_inputs(inputs: Sequence[str], num_outputs: int) -> list[list[tuple[str, int, int]]]:
    """Which documents each output file gets (see the module docstring)."""
    plan: list[list[tuple[str, int, int]]] = [[] for _ in range(num_outputs)]
    if num_outputs <= len(inputs):
        for f, path in enumerate(inputs):
            plan[f % num_outputs].append((path, 1, 0))
    else:
        for f, path in enumerate(inputs):
            sharing = [k for k in range(num_outputs) if k % len(inputs) == f]
            for position, k in enumerate(sharing):
                plan[k].append((path, len(sharing), position))
    return plan


def _fingerprint(task_inputs, vocab_digest: str, lower_case, packing: PackingConfig, seed: int, num_files: int,
                 errors: str) -> str:
    spec = {"inputs": [(os.path.basename(p), os.path.getsize(p), stride, offset) for p, stride, offset in task_inputs],
            "vocab": vocab_digest, "lower_case": lower_case, "packing": dataclasses.asdict(packing),
            "seed": seed, "num_files": num_files, "errors": errors, "format": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


# -------------------------------------------------------------------------------------------------- one file

_TOKENIZERS: dict = {}
_PROGRESS = None   # a multiprocessing queue in pool workers


def _tokenizer(vocab: str, lower_case: bool | None):
    try:   # a vocabulary rewritten in place (e.g. retrained into the same directory) must be reloaded
        stat = os.stat(vocab)
        key = (os.path.abspath(vocab), lower_case, stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (vocab, lower_case)
    if key not in _TOKENIZERS:
        from electra.tokenization import load_tokenizer
        _TOKENIZERS[key] = load_tokenizer(vocab, lower_case=lower_case)
    return _TOKENIZERS[key]


def _documents_lines(inputs, errors: str) -> Iterator[str | None]:
    """Lines of the assigned documents; None marks a document end."""
    for path, stride, offset in inputs:
        document, in_document = 0, False
        for line in iter_lines(path, errors):
            if line.strip():
                in_document = True
                if document % stride == offset:
                    yield line
            elif in_document:
                if document % stride == offset:
                    yield None
                document += 1
                in_document = False
        if in_document and document % stride == offset:
            yield None


def build_file(task: FileTask, progress: Callable[[int], None] | None = None) -> dict:
    """Build one output file (atomically); returns its statistics."""
    start, cpu_start = time.perf_counter(), time.process_time()
    tokenizer = _tokenizer(task.vocab, task.lower_case)
    packer = SequencePacker(task.packing, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id,
                            random.Random(f"electra-pretraining/{task.seed}/{task.index}"))
    stats = {"documents": 0, "sentences": 0, "tokens": 0, "sequences": 0, "real_tokens": 0, "single_segment": 0,
             "truncated_tokens": 0, "input_bytes": 0}
    tmp = temp_path(task.output)

    def emit(writer: TFRecordWriter, packed: PackedSequence | None) -> None:
        if packed is None:
            return
        writer.write(encode_pretraining_example(packed.input_ids, packed.input_mask, packed.segment_ids))
        stats["sequences"] += 1
        stats["real_tokens"] += packed.first_length + packed.second_length + (3 if packed.second_length else 2)
        stats["single_segment"] += packed.second_length == 0
        stats["truncated_tokens"] += packed.dropped

    def run_batch(writer: TFRecordWriter, batch: list[str | None]) -> None:
        sentences = [line for line in batch if line is not None]
        encoded = tokenizer.encode_batch(sentences)
        position = 0
        for line in batch:
            if line is None:
                stats["documents"] += 1
                emit(writer, packer.end_document())
            else:
                ids = encoded[position]
                position += 1
                stats["tokens"] += len(ids)
                emit(writer, packer.add_sentence(ids))
        stats["sentences"] += len(sentences)
        size = len("\n".join(sentences).encode("utf-8")) + len(batch) - len(sentences) + bool(sentences)
        stats["input_bytes"] += size
        if progress is not None:
            progress(size)

    try:
        with TFRecordWriter(tmp) as writer:
            batch: list[str | None] = []
            for line in _documents_lines(task.inputs, task.errors):
                batch.append(line)
                if len(batch) >= 4096:
                    run_batch(writer, batch)
                    batch = []
            run_batch(writer, batch)
            emit(writer, packer.end_document())
            stats["output_bytes"] = writer.bytes
        stats["seconds"] = time.perf_counter() - start
        stats["cpu_seconds"] = time.process_time() - cpu_start
        record = {"fingerprint": task.fingerprint, "file": os.path.basename(task.output), "stats": stats}
        atomic_write_text(_stats_path(task.output), json.dumps(record, indent=1) + "\n")
        os.replace(tmp, task.output)     # the commit point: a finished file is complete
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return stats


def _init_worker(progress_queue) -> None:
    global _PROGRESS
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _PROGRESS = progress_queue


def _build_in_worker(task: FileTask) -> dict:
    return build_file(task, _PROGRESS.put if _PROGRESS is not None else None)


# -------------------------------------------------------------------------------------------------- the job

def build_pretraining_dataset(inputs, vocab: str, output_dir: str, max_seq_length: int = 128,
                              num_output_files: int = 1, num_processes: int = 1, seed: int = 12345,
                              prefix: str = "train", lower_case: bool | None = None,
                              short_seq_prob: float = 0.05, single_segment_prob: float = 0.1,
                              errors: str = "strict", overwrite: bool = False, progress: bool = True) -> dict:
    """Build ``num_output_files`` TFRecord files ``<output_dir>/<prefix>-XXXXX-of-NNNNN.tfrecord`` from sentence
    shards; returns the summary (also written to ``<output_dir>/<prefix>.summary.json``).

    ``inputs``: files, folders or globs of sentence shards (one sentence per line, blank line between
    documents). ``vocab``: a ``vocab.txt``, SentencePiece ``.model`` or a tokenizer directory. Errors
    (missing vocab or input, invalid UTF-8, no text) are raised as ``DataPrepError`` before any output is
    written.
    """
    started = time.perf_counter()
    packing = PackingConfig(max_seq_length, short_seq_prob, single_segment_prob)
    if num_output_files < 1:
        raise DataPrepError(f"num_output_files must be at least 1, got {num_output_files}")
    if errors not in ERRORS_CHOICES:
        raise DataPrepError(f"errors must be one of {ERRORS_CHOICES}, got {errors!r}")
    from electra.tokenization import TokenizerError
    try:
        tokenizer = _tokenizer(os.fspath(vocab), lower_case)
    except TokenizerError as e:
        raise DataPrepError(str(e)) from e
    files = expand_inputs(inputs, "pretraining input")
    input_bytes, non_empty = check_utf8(files, errors)
    if non_empty == 0:
        raise DataPrepError(f"no text in the pretraining input ({len(files)} file(s), all empty): "
                            f"{', '.join(files[:5])}{' …' if len(files) > 5 else ''}")
    vocab_file = getattr(tokenizer, "vocab_file", None) or tokenizer.model_file
    vocab_digest = file_sha256(vocab_file)

    os.makedirs(output_dir, exist_ok=True)
    remove_temps(output_dir, f"{prefix}-")
    remove_temps(output_dir, f".{prefix}-")
    tasks, done, stale = [], {}, []
    for index, assigned in enumerate(assign_inputs(files, num_output_files)):
        output = os.path.join(output_dir, output_name(prefix, index, num_output_files))
        task = FileTask(index, num_output_files, output, tuple(assigned), os.fspath(vocab), lower_case, packing,
                        seed, errors, _fingerprint(assigned, vocab_digest, lower_case, packing, seed,
                                                   num_output_files, errors))
        previous = _read_stats(output)
        if os.path.exists(output) and not overwrite:
            if previous is not None and previous.get("fingerprint") == task.fingerprint:
                done[index] = previous["stats"]
                continue
            stale.append(output)
        tasks.append(task)
    if stale:
        raise DataPrepError(f"{len(stale)} file(s) in {output_dir} come from a run with other inputs or settings "
                            f"(e.g. {os.path.basename(stale[0])}); pass overwrite=True (--overwrite) to rebuild "
                            f"them or choose another output directory")
    if done:
        log.info("resuming: %d of %d file(s) already finished", len(done), num_output_files)

    results = dict(done)
    skipped_bytes = sum(s["input_bytes"] for s in done.values())
    from tqdm import tqdm
    bar = tqdm(total=input_bytes, initial=min(skipped_bytes, input_bytes), unit="B", unit_scale=True,
               desc=f"{prefix} tfrecords", disable=not progress, dynamic_ncols=True)
    work_started = time.perf_counter()
    try:
        if num_processes <= 1 or len(tasks) <= 1:
            for task in tasks:
                results[task.index] = build_file(task, bar.update)
        else:
            context = mp.get_context("spawn")      # no fork: safe next to TensorFlow and Rust thread pools
            progress_queue = context.Queue()
            with context.Pool(min(num_processes, len(tasks)), initializer=_init_worker,
                              initargs=(progress_queue,)) as pool:
                pending = {task.index: pool.apply_async(_build_in_worker, (task,)) for task in tasks}
                while pending:
                    try:
                        bar.update(progress_queue.get(timeout=0.1))
                    except queue.Empty:
                        pass
                    for index in [i for i, r in pending.items() if r.ready()]:
                        results[index] = pending.pop(index).get()   # re-raises a worker's error
                while True:
                    try:
                        bar.update(progress_queue.get_nowait())
                    except queue.Empty:
                        break
    finally:
        bar.close()
        remove_temps(output_dir, f"{prefix}-")
    work_seconds = time.perf_counter() - work_started

    summary = _summarize(results, num_output_files, packing, tokenizer, files, output_dir, prefix, seed,
                         num_processes, work_seconds, time.perf_counter() - started, set(done))
    atomic_write_text(os.path.join(output_dir, f"{prefix}.summary.json"), json.dumps(summary, indent=2) + "\n")
    log.info("%s: %d sequences of %d tokens in %d file(s), %.1f%% padding, %.2f MB/s (%.2f MB/s per process)",
             prefix, summary["sequences"], max_seq_length, num_output_files, 100 * summary["padding_fraction"],
             summary["mb_per_second"], summary["mb_per_second_per_process"])
    return summary


def _read_stats(output: str) -> dict | None:
    try:
        with open(_stats_path(output), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _summarize(results: dict, num_files: int, packing: PackingConfig, tokenizer, files, output_dir, prefix,
               seed, num_processes, work_seconds, total_seconds, resumed: set) -> dict:
    keys = ("documents", "sentences", "tokens", "sequences", "real_tokens", "single_segment", "truncated_tokens",
            "input_bytes", "output_bytes")
    totals = {k: sum(r.get(k, 0) for r in results.values()) for k in keys}
    slots = totals["sequences"] * packing.max_seq_length
    built = num_files - len(resumed)
    processes = max(1, min(num_processes, built))
    fresh = [r for i, r in results.items() if i not in resumed]
    mb = sum(r["input_bytes"] for r in fresh) / 1e6                  # text read in this run
    rate = mb / work_seconds if built and work_seconds > 0 else 0.0
    cpu = sum(r.get("cpu_seconds", 0.0) for r in fresh)
    return {
        "prefix": prefix, "output_dir": os.path.abspath(output_dir),
        "files": [output_name(prefix, i, num_files) for i in range(num_files)],
        "inputs": [os.path.abspath(f) for f in files], "vocab_size": tokenizer.vocab_size,
        "special_ids": tokenizer.special_ids, "seed": seed, **dataclasses.asdict(packing), **totals,
        "padding_fraction": 1.0 - totals["real_tokens"] / slots if slots else 0.0,
        "single_segment_fraction": totals["single_segment"] / totals["sequences"] if totals["sequences"] else 0.0,
        "files_built": built, "files_resumed": len(resumed), "num_processes": processes,
        "seconds": round(total_seconds, 3), "work_seconds": round(work_seconds, 3),
        "input_mb_this_run": round(mb, 6), "mb_per_second": rate, "mb_per_second_per_process": rate / processes,
        # per process while it has a core to itself: immune to other load on the machine
        "cpu_seconds": round(cpu, 3), "mb_per_cpu_second": mb / cpu if cpu > 0 else 0.0,
    }


# -------------------------------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_prep.build_pretraining_dataset",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", required=True, help="sentence shards: files, folders or globs")
    parser.add_argument("--vocab", required=True, help="vocab.txt, SentencePiece .model or tokenizer directory")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--prefix", default="train", help="file name prefix, e.g. train or validation")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--num_output_files", type=int, default=1)
    parser.add_argument("--num_processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--lower_case", action=argparse.BooleanOptionalAction, default=None,
                        help="default: from the tokenizer directory's config, else uncased for vocab.txt")
    parser.add_argument("--short_seq_prob", type=float, default=0.05)
    parser.add_argument("--single_segment_prob", type=float, default=0.1)
    parser.add_argument("--errors", choices=ERRORS_CHOICES, default="strict")
    parser.add_argument("--overwrite", action="store_true", help="rebuild files made with other settings")
    parser.add_argument("--no_progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        summary = build_pretraining_dataset(args.input, args.vocab, args.output_dir, args.max_seq_length,
                                            args.num_output_files, args.num_processes, args.seed, args.prefix,
                                            args.lower_case, args.short_seq_prob, args.single_segment_prob,
                                            args.errors, args.overwrite, not args.no_progress)
    except DataPrepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in summary.items() if k not in ("files", "inputs")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
