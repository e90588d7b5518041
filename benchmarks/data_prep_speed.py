"""Throughput of text → pretraining TFRecords on this machine, in CPU-seconds, against a pure-Python peer, as JSON
(a benchmark, not a test).

Text: real text found on this machine that does NOT repeat (``benchmarks.corpus``; repeating a few MB would
measure the tokenizer's caches), as sentence shards, one per output file, turned into TFRecords with the BERT
uncased vocabulary. If less text is available than asked for, the JSON says so.

Measured, in CPU-seconds (so that other load on the machine matters less than in wall time; a process's CPU time
counts all its threads):

* ``build_pretraining_dataset`` with 1 process: the whole call (reading and checking the input, tokenizer,
  packing, serialization, writing) in this process → MB of raw text per CPU-second per process. It runs
  ``--repeats`` times (default 3), each with a fresh tokenizer and empty tables, and the median counts: on a
  shared virtual machine one run can be a third slower than the next with nothing changed;
* the same with N processes: this process plus all worker processes (``RUSAGE_CHILDREN``) → MB per CPU-second
  per process, and a check that the bytes equal the 1-process run's;
* the peer, in the same run, on a slice (``--peer_megabytes``) of the same text: what NVIDIA DeepLearningExamples'
  BERT/ELECTRA data prep runs — google-research/bert's pure-Python ``FullTokenizer`` and a per-sentence Python
  packing loop, one Example per sequence (``benchmarks.bert_reference``) — and ours on that same slice; the peer's
  ids must equal ours, and its TFRecord file our file, byte for byte.

    .venv/bin/python benchmarks/data_prep_speed.py [--megabytes 20] [--processes 2] [--repeats 3] [--output out.json]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import electra  # noqa: E402,F401  (like every entry script; this one never loads TensorFlow)
from benchmarks.common import ROOT, machine_record, versions, write_json  # noqa: E402

TARGET_MB_PER_CPU_SECOND = 8.0
_BERT_VOCAB = os.path.join(ROOT, "tests", "fixtures", "vocab", "bert-uncased-vocab.txt")


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished, waited-for children."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def _digest(paths: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def write_shards(documents: list[list[str]], directory: str, count: int) -> list[str]:
    """Documents dealt round-robin into ``count`` sentence shards (one sentence a line, blank line after each
    document)."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"train-{i:05d}-of-{count:05d}.txt") for i in range(count)]
    handles = [open(p, "w", encoding="utf-8", errors="replace") for p in paths]
    try:
        for n, document in enumerate(documents):
            handles[n % count].write("".join(s + "\n" for s in document) + "\n")
    finally:
        for h in handles:
            h.close()
    return paths


def _build(inputs, vocab, out, max_seq_length, num_output_files, processes, seed) -> dict:
    from data_prep.build_pretraining_dataset import _TOKENIZERS, build_pretraining_dataset
    _TOKENIZERS.clear()                      # a cold start: loading the tokenizer counts too
    cpu = _cpu_seconds()
    summary = build_pretraining_dataset(inputs, vocab, out, max_seq_length, num_output_files, processes, seed,
                                        progress=False)
    cpu = _cpu_seconds() - cpu
    mb = summary["input_mb_this_run"]
    return {"summary": summary, "cpu_seconds": round(cpu, 3), "mb": mb,
            "digest": _digest([os.path.join(out, name) for name in summary["files"]])}


def _peer(lines: list[str], vocab: str, ours_ids: list[list[int]], directory: str, max_seq_length: int,
          seed: int) -> dict:
    """The pure-Python peer on ``lines``: tokenization alone (checked against our ids), then the whole pipeline."""
    from benchmarks.bert_reference import FullTokenizer, reference_build
    from electra.tokenization import MAX_INPUT_CHARS_PER_WORD, load_tokenizer

    special = load_tokenizer(vocab).special_ids
    # Google's default is 200 characters per word; ours (and Hugging Face's) 100: the same limit for the check
    peer = FullTokenizer(vocab, do_lower_case=True, max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD)
    sentences = [line for line in lines if line.strip()]
    cpu = _cpu_seconds()
    peer_ids = [peer.convert_tokens_to_ids(peer.tokenize(s)) for s in sentences]
    tokenize_cpu = _cpu_seconds() - cpu
    mismatched = sum(a != b for a, b in zip(peer_ids, ours_ids))
    output = os.path.join(directory, "peer.tfrecord")
    cpu = _cpu_seconds()
    sequences = reference_build(lines, peer, output, max_seq_length,
                                random.Random(f"electra-pretraining/{seed}/0"), special)
    cpu = _cpu_seconds() - cpu
    return {"cpu_seconds": round(cpu, 3), "tokenize_cpu_seconds": round(tokenize_cpu, 3), "sequences": sequences,
            "sentences": len(sentences), "sentences_with_other_ids": mismatched, "digest": _digest([output])}


def run_benchmark(megabytes: float = 20.0, processes: int = 2, max_seq_length: int = 128,
                  num_output_files: int = 4, peer_megabytes: float = 2.0, seed: int = 1,
                  vocab: str | None = None, repeats: int = 3) -> dict:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from benchmarks.corpus import real_text_documents, write_documents
    from data_prep.common import iter_lines
    from data_prep.flat_encoder import FlatEncoder
    from electra.tokenization import load_tokenizer

    vocab = vocab or _BERT_VOCAB
    result: dict = {
        "machine": machine_record(fresh_pages=False), "versions": versions("tokenizers", "google-crc32c"),
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
        "vocab": os.path.relpath(vocab) if vocab == _BERT_VOCAB else vocab,
    }
    with tempfile.TemporaryDirectory(prefix="electra-bench-") as tmp:
        started = time.process_time()
        documents = list(real_text_documents(megabytes))
        corpus = write_documents(os.path.join(tmp, "corpus.txt"), documents)
        corpus["requested_mb"] = megabytes
        corpus["repeated"] = False
        corpus["seconds_to_collect"] = round(time.process_time() - started, 1)
        if corpus["mb"] < megabytes * 0.99:
            corpus["note"] = (f"only {corpus['mb']} MB of distinct text found on this machine "
                              f"({megabytes} MB asked for); all of it used, nothing repeated")
        result["corpus"] = corpus
        shards = write_shards(documents, os.path.join(tmp, "shards"), num_output_files)

        runs, digests = {}, set()
        for count in sorted({1, processes}):
            # the 1-process build `repeats` times, each from a cold tokenizer (empty tables): the median is the figure
            each = [_build(shards, vocab, os.path.join(tmp, f"records-{count}-{k}"), max_seq_length,
                           num_output_files, count, seed) for k in range(repeats if count == 1 else 1)]
            run = sorted(each, key=lambda r: r["cpu_seconds"])[len(each) // 2]
            summary = run["summary"]
            runs[f"processes_{count}"] = {
                "num_processes": summary["num_processes"], "cpu_seconds": run["cpu_seconds"],
                "wall_seconds": summary["work_seconds"], "mb": round(run["mb"], 3),
                "mb_per_cpu_second_per_process": round(run["mb"] / run["cpu_seconds"], 2),
                "mb_per_wall_second": round(summary["mb_per_second"], 2),
                "sequences": summary["sequences"], "tokens": summary["tokens"],
                "padding_fraction": round(summary["padding_fraction"], 4),
            }
            if len(each) > 1:
                runs[f"processes_{count}"]["repeats"] = {
                    "cpu_seconds_each": [r["cpu_seconds"] for r in each],
                    "mb_per_cpu_second_each": [round(r["mb"] / r["cpu_seconds"], 2) for r in each],
                    "figure": "median"}
            digests.update(r["digest"] for r in each)
        result["text_to_tfrecords"] = {"max_seq_length": max_seq_length, "num_output_files": num_output_files,
                                       "input_shards": len(shards), **runs,
                                       "identical_across_process_counts_and_repeats": len(digests) == 1}

        # --- the peer, on a slice of the same text
        slice_documents, size = [], 0
        for document in documents:
            if size >= peer_megabytes * 1e6:
                break
            slice_documents.append(document)
            size += sum(len(s.encode("utf-8", "replace")) + 1 for s in document) + 1
        slice_path = write_shards(slice_documents, os.path.join(tmp, "slice"), 1)[0]
        lines = list(iter_lines(slice_path, "replace"))
        ours_ids = FlatEncoder(load_tokenizer(vocab)).encode([line for line in lines if line.strip()])
        ids, lengths = (a.tolist() for a in ours_ids)
        ours_lists, at = [], 0
        for n in lengths:
            ours_lists.append(ids[at:at + n])
            at += n
        ours = _build([slice_path], vocab, os.path.join(tmp, "slice-records"), max_seq_length, 1, 1, seed)
        peer = _peer(lines, vocab, ours_lists, tmp, max_seq_length, seed)
        mb = ours["mb"]
        result["peer"] = {
            "what": "google-research/bert FullTokenizer (pure Python) + per-sentence Python packing + one Example "
                    "per sequence, as NVIDIA DeepLearningExamples' BERT/ELECTRA data prep",
            "slice_mb": round(mb, 3), "peer_cpu_seconds": peer["cpu_seconds"],
            "peer_tokenize_cpu_seconds": peer["tokenize_cpu_seconds"],
            "peer_mb_per_cpu_second": round(mb / peer["cpu_seconds"], 3),
            "ours_cpu_seconds": ours["cpu_seconds"], "ours_mb_per_cpu_second": round(mb / ours["cpu_seconds"], 2),
            "ours_over_peer": round(peer["cpu_seconds"] / ours["cpu_seconds"], 1),
            "sentences": peer["sentences"], "sentences_with_other_ids": peer["sentences_with_other_ids"],
            "ids_equal": peer["sentences_with_other_ids"] == 0,
            "tfrecords_identical": peer["digest"] == ours["digest"],
        }
    measured = result["text_to_tfrecords"]["processes_1"]["mb_per_cpu_second_per_process"]
    result["targets"] = {"mb_per_cpu_second_per_process": {"target": TARGET_MB_PER_CPU_SECOND, "measured": measured,
                                                            "met": measured >= TARGET_MB_PER_CPU_SECOND}}
    result["machine"]["load_average_at_end"] = os.getloadavg()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=20.0, help="distinct raw text (default %(default)s)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--num_output_files", type=int, default=4)
    parser.add_argument("--peer_megabytes", type=float, default=2.0, help="slice the peer runs on")
    parser.add_argument("--repeats", type=int, default=3,
                        help="1-process builds, each with a fresh tokenizer; the median counts (default %(default)s)")
    parser.add_argument("--vocab", default=None, help="default: the BERT uncased vocabulary in tests/fixtures")
    parser.add_argument("--output", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = run_benchmark(args.megabytes, args.processes, args.max_seq_length, args.num_output_files,
                           args.peer_megabytes, vocab=args.vocab, repeats=args.repeats)
    write_json(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
