"""Pretraining input: TFRecords of packed sequences → per-worker shards → shuffled, dynamically masked batches.

Records hold ``input_ids``, ``input_mask``, ``segment_ids`` (int64, fixed length), as google-research/electra and
NVIDIA write them. Masks are drawn with stateless RNG keyed by ``(seed, rank, batch index)``; the batch index is
part of the iterator state, so a restored iterator continues with exactly the masks an uninterrupted run sees.

Empty files (google-research/electra's ``build_pretraining_dataset.py`` leaves many when the corpus is small) are
skipped with a warning; only a glob with nothing but empty files is an error. With ``vocab_size``, every record's
token ids are checked in the pipeline (an id outside the vocabulary fails with a message naming the file), without
changing the order of the records or their masks.

A damaged record in the middle of a file (a truncated copy, flipped bytes) only shows up when the reader gets
there, as a ``DataLossError`` that names no file. ``explain_data_loss`` turns it into a ``CorruptRecordError``
naming the file, the record and its byte offset (``locate_corruption`` checks the TFRecord framing itself);
``pretraining_dataset(..., skip_corrupt_records=True)`` reads each file up to its first damaged record, and
``corruption_report`` says up front what that skips.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import re

import tensorflow as tf

from electra.data import tfrecord
from electra.data.masking import MaskingConfig, mask_tokens


FEATURES = ("input_ids", "input_mask", "segment_ids")
log = logging.getLogger("electra.data")


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    pad: int = 0
    cls: int = 101
    sep: int = 102
    mask: int = 103

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SpecialIds":
        return cls(pad=tokenizer.pad_id, cls=tokenizer.cls_id, sep=tokenizer.sep_id, mask=tokenizer.mask_id)


class InputError(ValueError):
    """Unusable pretraining input (no files, wrong sequence length, missing features); names the file."""


SKIP_FLAG = "--data.skip_corrupt_records"


@dataclasses.dataclass(frozen=True)
class Corruption:
    """The first damaged record of a TFRecord file: what a reader that stops there loses."""

    path: str
    record_index: int      # 0-based; also the number of intact records before it
    offset: int            # byte offset of the record's header in the file
    reason: str            # "truncated: file ends inside record 7", "length CRC mismatch", "data CRC mismatch"
    bytes_after: int       # bytes from ``offset`` to the end of the file

    def __str__(self) -> str:
        return (f"{self.path}: record {self.record_index} at byte offset {self.offset} is damaged ({self.reason}); "
                f"TensorFlow reads nothing past it (the last {self.bytes_after} byte(s) of the file)")


class CorruptRecordError(InputError):
    """A damaged TFRecord: names the file, the record and its byte offset, and the ways to go on.
    ``corruptions`` lists every damaged file found (empty when the scan found none)."""

    def __init__(self, message: str, corruptions: tuple[Corruption, ...] = ()):
        super().__init__(message)
        self.corruptions = tuple(corruptions)

    @classmethod
    def of(cls, corruptions: list[Corruption], first: Corruption | None = None) -> "CorruptRecordError":
        first = first or corruptions[0]
        others = [c for c in corruptions if c is not first]
        more = (f" {len(others)} other file(s) are damaged too: "
                + "; ".join(f"{c.path} (record {c.record_index})" for c in others[:5])
                + (f" (+{len(others) - 5} more)" if len(others) > 5 else "") + ".") if others else ""
        kept = f"its first {first.record_index} record(s)" if first.record_index else "none of its records"
        return cls(f"{first.path}: corrupt TFRecord: record {first.record_index} at byte offset {first.offset} is "
                   f"damaged ({first.reason}); TensorFlow reads nothing past it (the last {first.bytes_after} byte(s) "
                   f"of the file).{more} To go on: regenerate the file, remove it from the file list, or pass "
                   f"{SKIP_FLAG} to read each damaged file only up to its first damaged record (here: {kept}).",
                   tuple(corruptions))


def _open(path: str):
    return tf.io.gfile.GFile(path, "rb") if "://" in path else open(path, "rb", buffering=1 << 20)


def _scan(path: str) -> Corruption | None:
    """The framing of every record checked (``electra.data.tfrecord``); without a C CRC32C, TensorFlow's reader
    finds the damage instead."""
    size = tf.io.gfile.stat(path).length
    if not tfrecord.C_CRC32C:
        return _scan_with_tf(path, size)
    with _open(path) as f:
        try:
            for _ in tfrecord.iter_records(f, size):
                pass
        except tfrecord.DamagedRecord as e:
            return Corruption(path, e.index, e.offset, e.reason, size - e.offset)
    return None


def _scan_with_tf(path: str, size: int) -> Corruption | None:
    """Without a C CRC32C: TF reads the file up to its first damaged record, whose offset follows from the
    lengths of the records before it; TF's error message tells truncation from a CRC mismatch."""
    index = offset = 0
    lengths = tf.data.TFRecordDataset(path).ignore_errors().map(tf.strings.length).batch(1 << 16)
    for batch in lengths.as_numpy_iterator():
        index, offset = index + len(batch), offset + int(batch.sum()) + 16 * len(batch)
    if offset >= size:
        return None
    truncated = f"truncated: file ends inside record {index}"
    if size - offset < 12:      # TF ends a file at a partial header without an error
        return Corruption(path, index, offset, truncated, size - offset)
    try:
        for _ in tf.data.TFRecordDataset(path).skip(index).take(1):
            pass
        reason = "unreadable record"
    except tf.errors.DataLossError as e:
        found = re.search(r"(truncated|corrupted) record at (\d+)", e.message)
        kind, at = (found.group(1), int(found.group(2))) if found else ("", -1)
        reason = (truncated if kind == "truncated"
                  else "length CRC mismatch" if at == offset else "data CRC mismatch" if at == offset + 12
                  else f"unreadable: {e.message.strip()}")
    return Corruption(path, index, offset, reason, size - offset)


def locate_corruption(files: list[str]) -> list[Corruption]:
    """The first damaged record of each damaged (uncompressed) TFRecord file, in the order of ``files``; empty
    when every file is intact. Reads every file in full (files in parallel)."""
    if not files:
        return []
    with concurrent.futures.ThreadPoolExecutor(min(8, len(files))) as pool:
        return [c for c in pool.map(_scan, files) if c is not None]


def corruption_report(files: list[str]) -> list[Corruption]:
    """``locate_corruption``, logging a warning per damaged file: what ``skip_corrupt_records=True`` skips.
    Call it once before building the datasets with the flag on, and keep the list for the run log."""
    corruptions = locate_corruption(files)
    for c in corruptions:
        log.warning("%s; skipping it (%s): the file's first %d record(s) are read, the rest is not",
                    c, SKIP_FLAG, c.record_index)
    return corruptions


def explain_data_loss(files: list[str], error: Exception) -> CorruptRecordError:
    """For a ``tf.errors.DataLossError`` from the input iterator, which names no file: scans ``files`` and names
    the damaged one (the one whose offset TF reports, else the first). ``raise explain_data_loss(files, e) from e``.
    """
    message = getattr(error, "message", None) or str(error)
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", message).split(" [Op:")[0].strip()
    try:
        corruptions = locate_corruption(files)
    except (OSError, tf.errors.OpError) as e:
        corruptions, message = [], f"{message}; scanning the files failed too: {e}"
    if corruptions:
        reported = re.search(r"record at (\d+)", message)
        at = int(reported.group(1)) if reported else -1
        first = next((c for c in corruptions if at in (c.offset, c.offset + 12)), corruptions[0])
        return CorruptRecordError.of(corruptions, first)
    return CorruptRecordError(
        f"TensorFlow reported data loss reading the input ({message}), but none of the {len(files)} TFRecord "
        f"file(s) has a damaged record now ({_some(files, 20)}): a file may have changed since, or a read from "
        f"storage failed. Check the files; regenerate or remove a damaged one, or pass {SKIP_FLAG} to read each "
        f"damaged file only up to its first damaged record.")


def list_files(patterns: str | list[str], what: str = "train") -> list[str]:
    """Sorted files matching comma-separated globs; a glob matching nothing is an error naming it.

    Empty files (zero bytes: google-research/electra's ``build_pretraining_dataset.py`` writes them when the
    corpus is small) are skipped with a warning giving their number and a few names; only when every matched file
    is empty is it an error, naming the globs."""
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    files: list[str] = []
    empty: list[str] = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise InputError(f"--data.{what}_files: no file matches {pattern!r}")
        for path in matched:
            (empty if tf.io.gfile.stat(path).length == 0 else files).append(path)
    globs = ", ".join(repr(p) for p in patterns)
    if not files:
        raise InputError(f"--data.{what}_files: all {len(empty)} file(s) matching {globs} are empty TFRecord files "
                         f"(0 bytes, e.g. {_some(empty)}); nothing to read")
    if empty:
        log.warning("--%s_files: skipping %d empty TFRecord file(s) (0 bytes) of %d matching %s, e.g. %s",
                    what, len(empty), len(empty) + len(files), globs, _some(empty))
    return files


def _some(paths: list[str], n: int = 3) -> str:
    return ", ".join(paths[:n]) + (f" (+{len(paths) - n} more)" if len(paths) > n else "")


def check_records(files: list[str], seq_length: int, vocab_size: int | None = None,
                  skip_corrupt_records: bool = False) -> list[str]:
    """Read the first record of each file: every feature present, of length ``seq_length`` and, with
    ``vocab_size``, token ids in ``[0, vocab_size)``; else an ``InputError`` naming the file. Returns the files
    that hold records: a file holding none is skipped with a warning (an error when no file holds any). A damaged
    first record is a ``CorruptRecordError``, or with ``skip_corrupt_records`` makes a file that holds none."""
    usable, empty, damaged = [], [], []
    for path in files:
        try:
            record = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.DataLossError as e:
            if skip_corrupt_records:
                damaged.append(path)
                continue
            found = locate_corruption([path])
            if found:
                raise CorruptRecordError.of(found) from e
            raise InputError(f"{path}: corrupt TFRecord ({e.message.splitlines()[0]})") from e
        if record is None:
            empty.append(path)
            continue
        usable.append(path)
        example = tf.train.Example.FromString(record.numpy())
        for name in FEATURES:
            if name not in example.features.feature:
                raise InputError(f"{path}: records lack feature '{name}' (have "
                                 f"{sorted(example.features.feature)}); expected {list(FEATURES)}")
            length = len(example.features.feature[name].int64_list.value)
            if length != seq_length:
                raise InputError(f"{path}: '{name}' has length {length} but --data.max_seq_length is {seq_length}")
        if vocab_size is not None:
            ids = example.features.feature["input_ids"].int64_list.value
            bad = next(((i, t) for i, t in enumerate(ids) if not 0 <= t < vocab_size), None)
            if bad is not None:
                raise InputError(f"{path}: the first record has token id {bad[1]} at position {bad[0]}, outside the "
                                 f"vocabulary [0, {vocab_size}); were the records made with another vocabulary?")
    first_damaged = f"{len(damaged)} TFRecord file(s) whose first record is damaged, e.g. {_some(damaged)}"
    if not usable:
        raise InputError(f"none of the {len(files)} TFRecord file(s) holds a record (e.g. {_some(empty + damaged)})"
                         + (f"; {first_damaged} ({SKIP_FLAG})" if damaged else ""))
    if empty:
        log.warning("skipping %d TFRecord file(s) holding no records, e.g. %s", len(empty), _some(empty))
    if damaged:
        log.warning("skipping %s (%s)", first_damaged, SKIP_FLAG)
    return usable


def _parse(seq_length: int, vocab_size: int | None = None, files: list[str] | None = None):
    """Batch of serialized records → int32 features. With ``vocab_size``, the batch comes with the index (into
    ``files``) of each record's file, and an id outside ``[0, vocab_size)`` fails the pipeline with an error
    naming the file, the id and its position (the message is built only then)."""
    spec = {name: tf.io.FixedLenFeature([seq_length], tf.int64) for name in FEATURES}

    def cast(features):
        return {name: tf.cast(value, tf.int32) for name, value in features.items()}

    if vocab_size is None:
        def parse(records):
            return cast(tf.io.parse_example(records, spec))
        return parse

    names = tf.constant(files)

    def parse(records, file_index):
        features = tf.io.parse_example(records, spec)
        ids = features["input_ids"]
        bad = (ids < 0) | (ids >= vocab_size)
        valid = tf.logical_not(tf.reduce_any(bad))

        def message():
            where = tf.cast(tf.where(bad)[0], tf.int32)     # (row, position) of the first bad id
            return tf.strings.join([
                "InputError: token id ", tf.strings.as_string(ids[where[0], where[1]]), " at position ",
                tf.strings.as_string(where[1]), " of a record in ", tf.gather(names, file_index[where[0]]),
                f" is outside the vocabulary [0, {vocab_size}); were the records made with another vocabulary?"])

        check = tf.debugging.Assert(valid, [tf.cond(valid, lambda: tf.constant(""), message)])
        with tf.control_dependencies([check]):
            return cast({name: tf.identity(value) for name, value in features.items()})
    return parse


def _masker(seq_length: int, masking: MaskingConfig, special: SpecialIds, seed: int, rank: int):
    def apply(index, batch):
        out = mask_tokens(batch["input_ids"], batch["input_mask"],
                          tf.stack([tf.cast(seed * 1_000_003 + rank, tf.int64), index]), masking,
                          special.mask, (special.pad, special.cls, special.sep))
        return {**batch, **out}
    return apply


def pretraining_dataset(files: list[str], batch_size: int, seq_length: int, masking: MaskingConfig,
                        special: SpecialIds, *, seed: int = 0, rank: int = 0, num_workers: int = 1,
                        training: bool = True, shuffle_buffer: int = 10_000, cycle_length: int = 4,
                        vocab_size: int | None = None, skip_corrupt_records: bool = False) -> tf.data.Dataset:
    """Masked batches ``{input_ids, input_mask, segment_ids [B, S]; masked_lm_* [B, P]}`` with static shapes.

    Training: files are sharded across workers (rank r gets files r, r+N, …; with fewer files than workers,
    records are sharded instead), interleaved, shuffled and repeated; the last partial batch is dropped.
    Validation (``training=False``): every file in order, once, masked with a fixed seed, partial batch kept.
    Files holding no records are skipped (see ``check_records``).

    ``vocab_size``: when given, every record's ``input_ids`` must lie in ``[0, vocab_size)``; a record outside
    fails iteration with an ``InvalidArgumentError`` whose message names its file, the id and its position (a
    GPU gather would not check, and would silently read a wrong embedding row). The check changes neither the
    order of the records nor their masks.

    ``skip_corrupt_records``: each file is read up to its first damaged record (truncation, CRC mismatch) and
    the rest of it is skipped, instead of failing with a ``DataLossError``; intact files are read exactly as
    without it. Any read error ends a file this way (a failed read from remote storage too). It does not scan
    the files: ``corruption_report(files)`` says what is skipped.
    """
    files = check_records(files, seq_length, vocab_size, skip_corrupt_records)
    check_ids = vocab_size is not None
    names = tf.constant(files)

    def records_of(path):
        records = tf.data.TFRecordDataset(path)
        # TF moves to the next file after a read error, so ignoring it ends this file (one file per dataset here).
        return records.ignore_errors(log_warning=True) if skip_corrupt_records else records

    def with_file_index(path, records):
        if not check_ids:
            return records
        index = tf.cast(tf.argmax(tf.cast(tf.equal(names, path), tf.int32)), tf.int32)
        return tf.data.Dataset.zip((records, tf.data.Dataset.from_tensors(index).repeat()))

    ds = tf.data.Dataset.from_tensor_slices(names)
    record_shard = training and len(files) < num_workers
    if training and not record_shard:
        ds = ds.shard(num_workers, rank)
    if training:
        local_files = len(files) if record_shard else len(files[rank::num_workers])
        ds = ds.shuffle(local_files, seed=seed, reshuffle_each_iteration=True).repeat()

        def read(path):
            records = records_of(path)
            return with_file_index(path, records.shard(num_workers, rank) if record_shard else records)
        ds = ds.interleave(read, cycle_length=min(cycle_length, local_files), block_length=1,
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.shuffle(shuffle_buffer, seed=seed + rank, reshuffle_each_iteration=True)
    else:
        ds = ds.flat_map(lambda path: with_file_index(path, records_of(path)))
    ds = ds.batch(batch_size, drop_remainder=training).map(_parse(seq_length, vocab_size, files),
                                                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.enumerate().map(_masker(seq_length, masking, special, seed if training else 12345, rank),
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
