"""Pretraining input: TFRecords of packed sequences → per-worker shards → shuffled, dynamically masked batches.

Records hold ``input_ids``, ``input_mask``, ``segment_ids`` (int64, fixed length), as google-research/electra and
NVIDIA write them. Masks are drawn with stateless RNG keyed by ``(seed, rank, batch index)``; the batch index is
part of the iterator state, so a restored iterator continues with exactly the masks an uninterrupted run sees.

Empty files (google-research/electra's ``build_pretraining_dataset.py`` leaves many when the corpus is small) are
skipped with a warning; only a glob with nothing but empty files is an error. With ``vocab_size``, every record's
token ids are checked in the pipeline (an id outside the vocabulary fails with a message naming the file), without
changing the order of the records or their masks.
"""
from __future__ import annotations

import dataclasses
import logging

import tensorflow as tf

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
            raise InputError(f"--{what}_files: no file matches {pattern!r}")
        for path in matched:
            (empty if tf.io.gfile.stat(path).length == 0 else files).append(path)
    globs = ", ".join(repr(p) for p in patterns)
    if not files:
        raise InputError(f"--{what}_files: all {len(empty)} file(s) matching {globs} are empty TFRecord files "
                         f"(0 bytes, e.g. {_some(empty)}); nothing to read")
    if empty:
        log.warning("--%s_files: skipping %d empty TFRecord file(s) (0 bytes) of %d matching %s, e.g. %s",
                    what, len(empty), len(empty) + len(files), globs, _some(empty))
    return files


def _some(paths: list[str], n: int = 3) -> str:
    return ", ".join(paths[:n]) + (f" (+{len(paths) - n} more)" if len(paths) > n else "")


def check_records(files: list[str], seq_length: int, vocab_size: int | None = None) -> list[str]:
    """Read the first record of each file: every feature present, of length ``seq_length`` and, with
    ``vocab_size``, token ids in ``[0, vocab_size)``; else an ``InputError`` naming the file. Returns the files
    that hold records: a file holding none is skipped with a warning (an error when no file holds any)."""
    usable, empty = [], []
    for path in files:
        try:
            record = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.DataLossError as e:
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
                raise InputError(f"{path}: '{name}' has length {length} but --max_seq_length is {seq_length}")
        if vocab_size is not None:
            ids = example.features.feature["input_ids"].int64_list.value
            bad = next(((i, t) for i, t in enumerate(ids) if not 0 <= t < vocab_size), None)
            if bad is not None:
                raise InputError(f"{path}: the first record has token id {bad[1]} at position {bad[0]}, outside the "
                                 f"vocabulary [0, {vocab_size}); were the records made with another vocabulary?")
    if not usable:
        raise InputError(f"none of the {len(files)} TFRecord file(s) holds a record (e.g. {_some(empty)})")
    if empty:
        log.warning("skipping %d TFRecord file(s) holding no records, e.g. %s", len(empty), _some(empty))
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
                        vocab_size: int | None = None) -> tf.data.Dataset:
    """Masked batches ``{input_ids, input_mask, segment_ids [B, S]; masked_lm_* [B, P]}`` with static shapes.

    Training: files are sharded across workers (rank r gets files r, r+N, …; with fewer files than workers,
    records are sharded instead), interleaved, shuffled and repeated; the last partial batch is dropped.
    Validation (``training=False``): every file in order, once, masked with a fixed seed, partial batch kept.
    Files holding no records are skipped (see ``check_records``).

    ``vocab_size``: when given, every record's ``input_ids`` must lie in ``[0, vocab_size)``; a record outside
    fails iteration with an ``InvalidArgumentError`` whose message names its file, the id and its position (a
    GPU gather would not check, and would silently read a wrong embedding row). The check changes neither the
    order of the records nor their masks.
    """
    files = check_records(files, seq_length, vocab_size)
    check_ids = vocab_size is not None
    names = tf.constant(files)

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
            records = tf.data.TFRecordDataset(path)
            return with_file_index(path, records.shard(num_workers, rank) if record_shard else records)
        ds = ds.interleave(read, cycle_length=min(cycle_length, local_files), block_length=1,
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.shuffle(shuffle_buffer, seed=seed + rank, reshuffle_each_iteration=True)
    else:
        ds = ds.flat_map(lambda path: with_file_index(path, tf.data.TFRecordDataset(path)))
    ds = ds.batch(batch_size, drop_remainder=training).map(_parse(seq_length, vocab_size, files),
                                                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.enumerate().map(_masker(seq_length, masking, special, seed if training else 12345, rank),
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
