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

import dataclasses
import hashlib
import json
import multiprocessing as mp
import operator
import os
import queue
import random
import sys
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate, compress, count

import numpy as np

from data_prep.common import (DataPrepError, ERRORS_CHOICES, check_utf8, expand_inputs, file_sha256, iter_line_blocks,
                              log)
from data_prep.flat_encoder import FlatEncoder
from data_prep.tfrecord import encode_pretraining_examples
from electra.data.tfrecord import TFRecordWriter
from electra.io import atomic_path, remove_temporaries, storing, write_text
from electra.commands.entry import Command
from electra.configs import knob

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


@dataclasses.dataclass
class PackedBatch:
    """Many packed sequences as ``(n, max_seq_length)`` int64 arrays, and per sequence the lengths of A and B
    (after truncation) and the tokens lost to truncation."""
    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    first_lengths: np.ndarray
    second_lengths: np.ndarray
    dropped: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    def sequence(self, i: int) -> PackedSequence:
        return PackedSequence(self.input_ids[i].tolist(), self.input_mask[i].tolist(), self.segment_ids[i].tolist(),
                              int(self.first_lengths[i]), int(self.second_lengths[i]), int(self.dropped[i]))


class SequencePacker:
    """Feed sentences (token ids) and document ends; get packed sequences back (see the module docstring).

    ``add_sentences(ids, lengths, document_ends)`` takes many sentences at once — ``ids`` all their token ids
    concatenated, ``lengths`` how many belong to each sentence, ``document_ends`` after how many of these
    sentences a document ends — and returns a ``PackedBatch``. ``add_sentence`` / ``end_document`` do the same
    one event at a time and return a ``PackedSequence`` or None. Both give the same sequences, the same random
    draws in the same order, as feeding the events one by one.

    Why batches: the decisions need only sentence lengths. With running totals of the lengths, the sentence that
    reaches the target length, and the one where A reaches its budget, are found by binary search (``bisect``),
    so the Python work is per *sequence*, not per sentence or token; the tokens are then copied into the rows
    with numpy. Sentences without tokens are skipped, as one at a time.
    """

    def __init__(self, config: PackingConfig, cls_id: int, sep_id: int, pad_id: int, rng: random.Random):
        self.config = config
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.rng = rng
        self._pending_ids = np.zeros(0, dtype=np.int64)   # sentences of the current document not packed yet
        self._pending_lengths: list[int] = []
        self._target = config.max_seq_length

    def add_sentence(self, ids: Sequence[int]) -> PackedSequence | None:
        return self._single(self.add_sentences(np.asarray(ids, dtype=np.int64), [len(ids)], []))

    def end_document(self) -> PackedSequence | None:
        return self._single(self.add_sentences(np.zeros(0, dtype=np.int64), [], [0]))

    @staticmethod
    def _single(batch: PackedBatch) -> PackedSequence | None:
        return batch.sequence(0) if len(batch) else None

    def add_sentences(self, ids: np.ndarray, lengths: Sequence[int], document_ends: Sequence[int]) -> PackedBatch:
        lengths = np.asarray(lengths, dtype=np.int64)
        nonzero = np.concatenate([[0], np.cumsum(lengths > 0)])      # non-empty sentences before each position
        held = len(self._pending_lengths)
        sizes = self._pending_lengths + lengths[lengths > 0].tolist()
        tokens = np.concatenate([self._pending_ids, np.asarray(ids, dtype=np.int64)])
        ends = sorted({held + int(nonzero[e]) for e in document_ends})
        cum = [0, *accumulate(sizes)]                                # tokens before sentence i
        chunks: list[tuple[int, int, int, int]] = []                 # (start token, A, B, dropped) per sequence
        start, next_end = 0, 0
        while start < len(sizes):
            while next_end < len(ends) and ends[next_end] <= start:
                next_end += 1
            limit = ends[next_end] if next_end < len(ends) else len(sizes)
            # the first stop (sentences taken) in (start, limit] at which the target length is reached
            stop = bisect_left(cum, cum[start] + self._target, start + 1, limit + 1)
            if stop > limit:
                if next_end == len(ends):                            # the document goes on in the next batch
                    break
                stop = limit                                         # the document ends first: pack what there is
            chunks.append(self._split(cum, start, stop))
            start = stop
        self._pending_lengths = sizes[start:]
        self._pending_ids = tokens[cum[start]:]
        return self._rows(tokens, chunks)

    def _split(self, cum: list[int], start: int, stop: int) -> tuple[int, int, int, int]:
        """Sentences ``start:stop`` → (first token, A tokens, B tokens, dropped), drawing from the generator as
        Google's loop does: single segment or not; once, whether the sentence that takes A over its budget
        still joins A; then the next target length."""
        max_len, rng = self.config.max_seq_length, self.rng
        base = cum[start]
        total = cum[stop] - base
        if rng.random() < self.config.single_segment_prob:
            first = total                                            # everything goes to A
        else:
            budget = (self._target - 3) // 2
            # the first sentence after `start` with which A would reach its budget (A always takes `start`)
            over = bisect_left(cum, base + budget, start + 2, stop + 1)
            if over > stop:
                first = total
            else:
                first = cum[over - 1] - base
                if first < budget and rng.random() < 0.5:
                    first = cum[over] - base
        second = total - first
        kept_first = min(first, max_len - 2)
        kept_second = min(second, max(0, max_len - kept_first - 3))
        if rng.random() < self.config.short_seq_prob:
            self._target = rng.randint(5, max_len)
        else:
            self._target = max_len
        return base, first, kept_second, total - kept_first - kept_second

    def _rows(self, tokens: np.ndarray, chunks: list[tuple[int, int, int, int]]) -> PackedBatch:
        """``[CLS] A [SEP] B [SEP]`` + padding for every chunk, with numpy (no Python per token)."""
        max_len = self.config.max_seq_length
        n = len(chunks)
        starts, first, second, dropped = np.array(chunks, dtype=np.int64).reshape(n, 4).T
        kept_first = np.minimum(first, max_len - 2)
        ids = np.full((n, max_len), self.pad_id, dtype=np.int64)
        ids[:, 0] = self.cls_id
        rows = np.arange(n)
        a_rows, a_offsets = _ragged(kept_first)
        ids[a_rows, 1 + a_offsets] = tokens[starts[a_rows] + a_offsets]
        ids[rows, kept_first + 1] = self.sep_id
        b_rows, b_offsets = _ragged(second)                          # B starts right after the whole of A
        ids[b_rows, kept_first[b_rows] + 2 + b_offsets] = tokens[starts[b_rows] + first[b_rows] + b_offsets]
        has_second = second > 0
        ids[rows[has_second], (kept_first + second + 2)[has_second]] = self.sep_id
        real = kept_first + 2 + np.where(has_second, second + 1, 0)
        columns = np.arange(max_len)
        mask = columns < real[:, None]
        segments = mask & (columns >= kept_first[:, None] + 2)
        return PackedBatch(ids, mask.astype(np.int64), segments.astype(np.int64), kept_first, second, dropped)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows with ``counts[i]`` items each: (row of every item, its position in the row)."""
    ends = np.cumsum(counts)
    rows = np.repeat(np.arange(len(counts)), counts)
    return rows, np.arange(int(ends[-1]) if len(ends) else 0) - (ends - counts)[rows]


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
_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # tokenizer → its FlatEncoder (word tables)
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


def _encoder(tokenizer) -> FlatEncoder:
    encoder = _ENCODERS.get(tokenizer)
    if encoder is None:
        encoder = _ENCODERS[tokenizer] = FlatEncoder(tokenizer)
    return encoder


def _document_batches(inputs, errors: str, min_sentences: int = 4096) -> Iterator[tuple[list[str], list[int]]]:
    """The assigned documents, a batch at a time: (sentences, document ends), where each document end says after
    how many of the batch's sentences a document ends. A blank line (empty or only whitespace) ends a document.
    Lines are handled a block (~1 MB) at a time, in bulk: list comprehensions and slices, no Python step per line
    beyond finding the blank ones."""
    sentences: list[str] = []
    ends: list[int] = []
    for path, stride, offset in inputs:
        document, in_document = 0, False
        for lines in iter_line_blocks(path, errors):
            blanks = list(compress(count(), map(operator.not_, map(str.strip, lines))))   # empty or whitespace
            start = 0
            for blank in [*blanks, len(lines)]:
                if blank > start:                       # lines[start:blank]: text of the current document
                    in_document = True
                    if document % stride == offset:
                        sentences += lines[start:blank]
                if blank < len(lines) and in_document:  # a blank line after text ends the document
                    if document % stride == offset:
                        ends.append(len(sentences))
                    document += 1
                    in_document = False
                start = blank + 1
            if len(sentences) >= min_sentences:
                yield sentences, ends
                sentences, ends = [], []
        if in_document and document % stride == offset:
            ends.append(len(sentences))
    if sentences or ends:
        yield sentences, ends


def build_file(task: FileTask, progress: Callable[[int], None] | None = None) -> dict:
    """Build one output file (atomically); returns its statistics."""
    start, cpu_start = time.perf_counter(), time.process_time()
    tokenizer = _tokenizer(task.vocab, task.lower_case)
    encoder = _encoder(tokenizer)
    packer = SequencePacker(task.packing, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id,
                            random.Random(f"electra-pretraining/{task.seed}/{task.index}"))
    stats = {"documents": 0, "sentences": 0, "tokens": 0, "sequences": 0, "real_tokens": 0, "single_segment": 0,
             "truncated_tokens": 0, "input_bytes": 0}

    def emit(writer: TFRecordWriter, packed: PackedBatch) -> None:
        if not len(packed):
            return
        writer.write_many(encode_pretraining_examples(packed.input_ids, packed.input_mask, packed.segment_ids))
        second = packed.second_lengths
        stats["sequences"] += len(packed)
        stats["real_tokens"] += int(packed.first_lengths.sum() + second.sum() + 2 * len(packed) + (second > 0).sum())
        stats["single_segment"] += int((second == 0).sum())
        stats["truncated_tokens"] += int(packed.dropped.sum())

    with atomic_path(task.output) as tmp:     # the rename at the end is the commit point
        with TFRecordWriter(tmp) as writer:
            for sentences, ends in _document_batches(task.inputs, task.errors):
                ids, lengths = encoder.encode(sentences)
                emit(writer, packer.add_sentences(ids, lengths, ends))
                stats["documents"] += len(ends)
                stats["sentences"] += len(sentences)
                stats["tokens"] += len(ids)
                # the bytes of the lines read: each sentence and its newline, one newline per document end
                size = (len("\n".join(sentences).encode()) + 1 if sentences else 0) + len(ends)
                stats["input_bytes"] += size
                if progress is not None:
                    progress(size)
            emit(writer, packer.add_sentences(np.zeros(0, dtype=np.int64), [], [0]))
            stats["output_bytes"] = writer.bytes
        stats["seconds"] = time.perf_counter() - start
        stats["cpu_seconds"] = time.process_time() - cpu_start
        record = {"fingerprint": task.fingerprint, "file": os.path.basename(task.output), "stats": stats}
        write_text(_stats_path(task.output), json.dumps(record, indent=1) + "\n")
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
    input_bytes, has_text = check_utf8(files, errors)
    if not has_text:
        raise DataPrepError(f"no text in the pretraining input ({len(files)} file(s), all empty): "
                            f"{', '.join(files[:5])}{' …' if len(files) > 5 else ''}")
    vocab_file = getattr(tokenizer, "vocab_file", None) or tokenizer.model_file
    vocab_digest = file_sha256(vocab_file)

    with storing(output_dir):
        os.makedirs(output_dir, exist_ok=True)
        remove_temporaries(output_dir, f"{prefix}-")
        remove_temporaries(output_dir, f".{prefix}-")
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
        remove_temporaries(output_dir, f"{prefix}-")
    work_seconds = time.perf_counter() - work_started

    summary = _summarize(results, num_output_files, packing, tokenizer, files, output_dir, prefix, seed,
                         num_processes, work_seconds, time.perf_counter() - started, set(done))
    write_text(os.path.join(output_dir, f"{prefix}.summary.json"), json.dumps(summary, indent=2) + "\n")
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

@dataclasses.dataclass(frozen=True)
class BuildDatasetConfig:
    input: tuple[str, ...] = knob((), "Sentence shards: files, folders or globs.", required=True)
    vocab: str = knob("", "vocab.txt, SentencePiece .model or tokenizer directory.", required=True)
    output_dir: str = knob("", "Where the TFRecords are written.", required=True)
    prefix: str = knob("train", "File name prefix, e.g. train or validation.")
    max_seq_length: int = knob(128, "Tokens per sequence.", valid=f">= {MIN_SEQ_LENGTH}")
    num_output_files: int = knob(1, "TFRecord files written.", valid=">= 1")
    num_processes: int = knob(1, "Worker processes (the bytes written do not depend on it).", valid=">= 1")
    seed: int = knob(12345, "Random seed of the packing.", valid=">= 0")
    lower_case: bool | None = knob(None, "Lower-case the text (default: from the tokenizer directory's config, else "
                                         "uncased for vocab.txt).")
    short_seq_prob: float = knob(0.05, "Probability that the next sequence's target length is random in [5, "
                                       "max_seq_length].", valid="[0, 1]")
    single_segment_prob: float = knob(0.1, "Probability of a single-segment sequence [CLS] A [SEP].", valid="[0, 1]")
    errors: str = knob("strict", "Invalid UTF-8: 'strict' stops with the file and byte offset, 'replace' uses "
                                 "U+FFFD.", choices=ERRORS_CHOICES)
    overwrite: bool = knob(False, "Rebuild files made with other settings.")
    progress: bool = knob(True, "Show a progress bar.")


def _run(c: BuildDatasetConfig) -> dict:
    summary = build_pretraining_dataset(list(c.input), c.vocab, c.output_dir, c.max_seq_length, c.num_output_files,
                                        c.num_processes, c.seed, c.prefix, c.lower_case, c.short_seq_prob,
                                        c.single_segment_prob, c.errors, c.overwrite, c.progress)
    return {k: v for k, v in summary.items() if k not in ("files", "inputs")}


COMMAND = Command("python -m data_prep.build_pretraining_dataset", BuildDatasetConfig, _run, __doc__,
                  tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
