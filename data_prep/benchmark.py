"""Throughput of the data pipeline on this machine, as JSON (a benchmark, not a test).

Text: the embedded default corpus plus the docstrings of the standard library's own modules (parsed with
``ast``, nothing imported or downloaded) — about 2 MB of real English technical prose — repeated, documents
reshuffled each round, up to ``--megabytes``. Measured:

* tokenization: ``WordPieceTokenizer.encode_batch`` on every sentence, one thread — cold (fresh tokenizer, each
  distinct word WordPieced once, the first ~2 MB) and warm (the whole corpus), plus the plain Rust
  ``tokenizers`` pipeline on the same sentences for comparison;
* text → TFRecords: ``build_pretraining_dataset`` with 1 and with N processes (MB of raw text per second, and
  per process), checking that both runs write identical bytes.

    python -m data_prep.benchmark [--megabytes 16] [--processes 2] [--output benchmark.json]
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import random
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import Sequence


def stdlib_docstring_documents() -> list[list[str]]:
    """One document per standard-library module: its module, class and function docstrings, sentence-split."""
    from data_prep.text import paragraph_to_sentences

    root = sysconfig.get_paths()["stdlib"]
    documents = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "test", "tests", "idlelib", "__pycache__"))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(directory, name), encoding="utf-8") as f, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            sentences = []
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        for paragraph in doc.split("\n\n"):
                            if not paragraph.lstrip().startswith((">>>", "$")):
                                sentences.extend(paragraph_to_sentences(" ".join(paragraph.split())))
            if len(sentences) >= 2:
                documents.append(sentences)
    return documents


def _write_corpus(path: str, documents: list[list[str]], megabytes: float, seed: int) -> int:
    rng = random.Random(seed)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < megabytes * 1e6:
            order = list(documents)
            rng.shuffle(order)
            for document in order:
                text = "".join(s + "\n" for s in document) + "\n"
                f.write(text)
                written += len(text.encode("utf-8"))
                if written >= megabytes * 1e6:
                    break
    return written


def _digest(paths: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def run_benchmark(megabytes: float = 16.0, processes: int = 2, max_seq_length: int = 128, vocab_size: int = 16000,
                  num_output_files: int = 8, seed: int = 1) -> dict:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from data_prep.build_pretraining_dataset import build_pretraining_dataset
    from data_prep.build_vocab import train_wordpiece
    from data_prep.corpus import default_corpus_documents
    from electra.tokenization import WordPieceTokenizer

    documents = list(default_corpus_documents()) + stdlib_docstring_documents()
    unique_bytes = sum(len(s.encode("utf-8")) + 1 for d in documents for s in d)
    result: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "platform": platform.platform(),
                                "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None},
                    "corpus": {"unique_documents": len(documents), "unique_mb": round(unique_bytes / 1e6, 3)}}
    with tempfile.TemporaryDirectory(prefix="electra-bench-") as tmp:
        unique = os.path.join(tmp, "unique.txt")
        _write_corpus(unique, documents, unique_bytes / 1e6, seed)
        corpus = os.path.join(tmp, "corpus.txt")
        total = _write_corpus(corpus, documents, megabytes, seed)
        result["corpus"]["benchmark_mb"] = round(total / 1e6, 3)
        vocab = train_wordpiece([unique], os.path.join(tmp, "vocab"), vocab_size)

        # --- tokenization, one thread
        with open(corpus, encoding="utf-8") as f:
            sentences = [line for line in f.read().split("\n") if line]
        sentence_bytes = sum(len(s.encode("utf-8")) + 1 for s in sentences)
        with open(unique, encoding="utf-8") as f:
            first = [line for line in f.read().split("\n") if line]
        first_bytes = sum(len(s.encode("utf-8")) + 1 for s in first)
        tokenizer = WordPieceTokenizer(vocab)
        start, cpu = time.perf_counter(), time.process_time()
        ids = tokenizer.encode_batch(first)
        cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
        cold_tokens = sum(map(len, ids))
        start, cpu = time.perf_counter(), time.process_time()
        ids = tokenizer.encode_batch(sentences)
        warm, warm_cpu = time.perf_counter() - start, time.process_time() - cpu
        tokens = sum(map(len, ids))
        lowered = [s.lower() for s in first]
        start = time.perf_counter()
        rust = tokenizer._rust.encode_batch_fast(lowered, add_special_tokens=False)
        rust_seconds = time.perf_counter() - start
        rust_tokens = sum(len(e.ids) for e in rust)
        result["tokenization"] = {
            "vocab_size": tokenizer.vocab_size, "threads": 1,
            "cold_mb_per_second": round(first_bytes / cold / 1e6, 2),
            "cold_tokens_per_second": round(cold_tokens / cold),
            "warm_mb_per_second": round(sentence_bytes / warm / 1e6, 2),
            "warm_tokens_per_second": round(tokens / warm),
            "cold_mb_per_cpu_second": round(first_bytes / cold_cpu / 1e6, 2),
            "warm_mb_per_cpu_second": round(sentence_bytes / warm_cpu / 1e6, 2),
            "warm_tokens_per_cpu_second": round(tokens / warm_cpu),
            "rust_pipeline_only_mb_per_second": round(first_bytes / rust_seconds / 1e6, 2),
            "rust_pipeline_only_tokens_per_second": round(rust_tokens / rust_seconds),
            "bytes_per_token": round(sentence_bytes / max(1, tokens), 2),
        }
        del ids, rust, sentences, first, lowered

        # --- text → TFRecords
        runs = {}
        digests = {}
        for count in sorted({1, processes}):
            out = os.path.join(tmp, f"records-{count}")
            summary = build_pretraining_dataset([corpus], vocab, out, max_seq_length, num_output_files, count, seed,
                                                progress=False)
            runs[f"processes_{count}"] = {
                "num_processes": summary["num_processes"], "seconds": summary["work_seconds"],
                "mb_per_second": round(summary["mb_per_second"], 2),
                "mb_per_second_per_process": round(summary["mb_per_second_per_process"], 2),
                "mb_per_cpu_second": round(summary["mb_per_cpu_second"], 2),
                "sequences_per_second": round(summary["sequences"] / summary["work_seconds"]),
                "sequences": summary["sequences"], "padding_fraction": round(summary["padding_fraction"], 4),
            }
            digests[count] = _digest([os.path.join(out, name) for name in summary["files"]])
        result["text_to_tfrecords"] = {"max_seq_length": max_seq_length, "num_output_files": num_output_files,
                                       **runs, "identical_across_process_counts": len(set(digests.values())) == 1}
    result["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=16.0, help="raw text to process (default %(default)s)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--vocab_size", type=int, default=16000)
    parser.add_argument("--num_output_files", type=int, default=8)
    parser.add_argument("--output", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = run_benchmark(args.megabytes, args.processes, args.max_seq_length, args.vocab_size,
                           args.num_output_files)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
