"""Pretraining input: TFRecords of packed sequences → per-worker shards → shuffled, dynamically masked batches.

Records hold ``input_ids``, ``input_mask``, ``segment_ids`` (int64, fixed length), as google-research/electra and
NVIDIA write them. Masks are drawn with stateless RNG keyed by ``(seed, rank, batch index)``; the batch index is
part of the iterator state, so a restored iterator continues with exactly the masks an uninterrupted run sees.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from electra.data.masking import MaskingConfig, mask_tokens

FEATURES = ("input_ids", "input_mask", "segment_ids")


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
    """Sorted files matching comma-separated globs; an empty match is an error naming the glob."""
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    files: list[str] = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise InputError(f"--{what}_files: no file matches {pattern!r}")
        files += matched
    empty = [f for f in files if tf.io.gfile.stat(f).length == 0]
    if empty:
        raise InputError(f"--{what}_files: empty TFRecord file(s) {empty[:5]}")
    return files


def check_records(files: list[str], seq_length: int) -> None:
    """Read the first record of each file: every feature present, of length ``seq_length``, else name the file."""
    for path in files:
        try:
            record = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.DataLossError as e:
            raise InputError(f"{path}: corrupt TFRecord ({e.message.splitlines()[0]})") from e
        if record is None:
            raise InputError(f"{path}: holds no records")
        example = tf.train.Example.FromString(record.numpy())
        for name in FEATURES:
            if name not in example.features.feature:
                raise InputError(f"{path}: records lack feature '{name}' (have "
                                 f"{sorted(example.features.feature)}); expected {list(FEATURES)}")
            length = len(example.features.feature[name].int64_list.value)
            if length != seq_length:
                raise InputError(f"{path}: '{name}' has length {length} but --max_seq_length is {seq_length}")


def _parse(seq_length: int):
    spec = {name: tf.io.FixedLenFeature([seq_length], tf.int64) for name in FEATURES}

    def parse(records):
        features = tf.io.parse_example(records, spec)
        return {name: tf.cast(value, tf.int32) for name, value in features.items()}
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
                        training: bool = True, shuffle_buffer: int = 10_000, cycle_length: int = 4) -> tf.data.Dataset:
    """Masked batches ``{input_ids, input_mask, segment_ids [B, S]; masked_lm_* [B, P]}`` with static shapes.

    Training: files are sharded across workers (rank r gets files r, r+N, …; with fewer files than workers,
    records are sharded instead), interleaved, shuffled and repeated; the last partial batch is dropped.
    Validation (``training=False``): every file in order, once, masked with a fixed seed, partial batch kept.
    """
    check_records(files, seq_length)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(files))
    record_shard = training and len(files) < num_workers
    if training and not record_shard:
        ds = ds.shard(num_workers, rank)
    if training:
        local_files = len(files) if record_shard else len(files[rank::num_workers])
        ds = ds.shuffle(local_files, seed=seed, reshuffle_each_iteration=True).repeat()

        def read(path):
            records = tf.data.TFRecordDataset(path)
            return records.shard(num_workers, rank) if record_shard else records
        ds = ds.interleave(read, cycle_length=min(cycle_length, local_files), block_length=1,
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.shuffle(shuffle_buffer, seed=seed + rank, reshuffle_each_iteration=True)
    else:
        ds = ds.flat_map(tf.data.TFRecordDataset)
    ds = ds.batch(batch_size, drop_remainder=training).map(_parse(seq_length), num_parallel_calls=tf.data.AUTOTUNE,
                                                           deterministic=True)
    ds = ds.enumerate().map(_masker(seq_length, masking, special, seed if training else 12345, rank),
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
