"""Documents → N train + M validation sentence shards, deterministic for a seed, written atomically.

Documents stream through a buffer (``buffer_documents`` at a time) that is shuffled with ``random.Random(seed)``;
from each buffer ``round(validation_fraction × size)`` documents go to validation (at least one overall when
the fraction is positive), the rest are dealt round-robin over the train shards, so shard sizes stay balanced.
Same documents + same seed → byte-identical shards. Everything is written under temporary names and renamed
only when the whole corpus went through; a failed run leaves no shard behind.

Shard format: UTF-8, one sentence per line, one blank line after every document.
"""
from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterable

from data_prep.common import DataPrepError, log
from electra.io import remove_temporaries, temporary_path, write_text

MANIFEST = "shards.json"
_SHARD = re.compile(r"^(train|validation)-\d{5}-of-\d{5}\.txt$")


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.txt"


def shard_documents(documents: Iterable[list[str]], output_dir: str, num_train_shards: int = 8,
                    num_validation_shards: int = 1, validation_fraction: float = 0.05, seed: int = 12345,
                    extra: dict | None = None, buffer_documents: int = 10000) -> dict:
    """Write the shards; returns the manifest (paths, per-shard counts, seed), also saved as ``shards.json``."""
    if num_train_shards < 1:
        raise DataPrepError(f"num_train_shards must be at least 1, got {num_train_shards}")
    if not 0.0 <= validation_fraction < 1.0:
        raise DataPrepError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if validation_fraction > 0 and num_validation_shards < 1:
        raise DataPrepError("validation_fraction > 0 needs num_validation_shards >= 1")
    if validation_fraction == 0:
        num_validation_shards = 0
    os.makedirs(output_dir, exist_ok=True)
    for split in ("train", "validation"):
        remove_temporaries(output_dir, f"{split}-")

    names = {"train": [shard_name("train", i, num_train_shards) for i in range(num_train_shards)],
             "validation": [shard_name("validation", i, num_validation_shards)
                            for i in range(num_validation_shards)]}
    finals = {split: [os.path.join(output_dir, n) for n in ns] for split, ns in names.items()}
    temps = {split: [temporary_path(p) for p in ps] for split, ps in finals.items()}
    counts = {split: [{"documents": 0, "sentences": 0, "bytes": 0} for _ in ps] for split, ps in finals.items()}
    handles = {split: [open(t, "w", encoding="utf-8", newline="\n") for t in ts] for split, ts in temps.items()}
    rng = random.Random(seed)
    dealt = {"train": 0, "validation": 0}
    total = {"documents": 0, "sentences": 0}

    def write(split: str, document: list[str]) -> None:
        index = dealt[split] % len(handles[split])
        dealt[split] += 1
        text = "".join(s + "\n" for s in document) + "\n"
        handles[split][index].write(text)
        entry = counts[split][index]
        entry["documents"] += 1
        entry["sentences"] += len(document)
        entry["bytes"] += len(text.encode("utf-8"))

    def flush(buffer: list[list[str]], first: bool) -> None:
        rng.shuffle(buffer)
        held_out = round(validation_fraction * len(buffer)) if validation_fraction > 0 else 0
        if first and validation_fraction > 0 and len(buffer) >= 2:
            held_out = min(max(held_out, 1), len(buffer) - 1)
        for position, document in enumerate(buffer):
            write("validation" if position < held_out else "train", document)

    try:
        buffer: list[list[str]] = []
        first = True
        for document in documents:
            document = [s for s in document if s.strip()]
            if not document:
                continue
            if any("\n" in s or "\r" in s for s in document):
                document = [part.strip() for s in document for part in s.splitlines() if part.strip()]
            buffer.append(document)
            total["documents"] += 1
            total["sentences"] += len(document)
            if len(buffer) >= buffer_documents:
                flush(buffer, first)
                buffer, first = [], False
        if buffer:
            flush(buffer, first)
        for hs in handles.values():
            for h in hs:
                h.close()
        if total["documents"] == 0:
            raise DataPrepError("the corpus has no documents (all inputs empty or without text)")
        train_docs = dealt["train"]
        if train_docs < num_train_shards:
            raise DataPrepError(f"the corpus has {train_docs} training document(s) for {num_train_shards} train "
                                f"shards; use --num_train_shards={max(1, train_docs)} or fewer")
        if num_validation_shards and dealt["validation"] < num_validation_shards:
            raise DataPrepError(f"the corpus has {dealt['validation']} validation document(s) for "
                                f"{num_validation_shards} validation shards; raise validation_fraction or "
                                f"lower num_validation_shards")
        for split in finals:
            for tmp, final in zip(temps[split], finals[split]):
                os.replace(tmp, final)
        current = {n for ns in names.values() for n in ns}
        for name in sorted(os.listdir(output_dir)):   # shards of an earlier run with other shard counts
            if _SHARD.match(name) and name not in current:
                log.info("removing stale shard %s", name)
                os.remove(os.path.join(output_dir, name))
    finally:
        for split in handles:
            for h, tmp in zip(handles[split], temps[split]):
                h.close()
                if os.path.exists(tmp):
                    os.remove(tmp)

    manifest = {
        "output_dir": os.path.abspath(output_dir), "seed": seed, "validation_fraction": validation_fraction,
        "documents": total["documents"], "sentences": total["sentences"],
        "train": [os.path.abspath(p) for p in finals["train"]],
        "validation": [os.path.abspath(p) for p in finals["validation"]],
        "shards": {split: [dict(name=n, **c) for n, c in zip(names[split], counts[split])] for split in names},
    }
    if extra:
        manifest.update(extra)
    write_text(os.path.join(output_dir, MANIFEST), json.dumps(manifest, indent=2) + "\n")
    log.info("wrote %d train + %d validation shards (%d documents, %d sentences) to %s", num_train_shards,
             num_validation_shards, total["documents"], total["sentences"], output_dir)
    return manifest
