"""SQuAD featurization time and memory on one long paragraph: 0.1 / 0.3 / 1 MB contexts by default. JSON lines.

    .venv/bin/python benchmarks/squad_features.py --vocab_file vocab.txt --sizes_mb 0.1,0.3,1

Each size writes a SQuAD file holding ONE paragraph of that many characters (real English prose: CPython's
documentation topics, repeated; or ``--text_file``) and ``--questions`` questions whose answers lie at the start,
middle and end, then runs ``load_features`` (read + tokenize + windows + max-context + answer search) in training
and prediction mode. Reported per size and mode: ``seconds`` (best of ``--repeats``), ``peak_traced_mb`` (the
tracemalloc peak of one more run, numpy buffers included), context tokens and feature count. Without
``--vocab_file`` a word vocabulary of the text is used (every word whole), which tokenizes like a real one. Each
line names the CPU (model, ISA flags).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import electra  # noqa: E402,F401  (before TensorFlow loads: turns its oneDNN CPU kernels on)


def prose(text_file: str | None = None) -> str:
    if text_file:
        with open(text_file, encoding="utf-8") as f:
            return " ".join(f.read().split())
    from pydoc_data.topics import topics
    paragraphs = []
    for key in sorted(topics):
        for block in topics[key].split("\n\n"):
            line = " ".join(block.split())
            # keep prose, drop code and tables: sentences that end with a full stop and have few symbols
            if len(line) > 80 and line.endswith(".") and sum(c in "{}[]()=<>*_|`'\"" for c in line) < len(line) / 40:
                paragraphs.append(line)
    return " ".join(paragraphs)


def long_context(chars: int, source: str) -> str:
    parts, total = [], 0
    while total < chars:
        parts.append(source)
        total += len(source) + 1
    return " ".join(parts)[:chars].rsplit(" ", 1)[0]


def squad_file(path: str, context: str, questions: int) -> str:
    qas = []
    for q in range(questions):
        at = int(len(context) * (q + 0.5) / questions)
        match = re.compile(r"\b[A-Za-z]{4,}\b").search(context, at)
        text, start = match.group(0), match.start()
        qas.append({"id": f"q{q}", "question": f"What is word number {q} near {text}?", "is_impossible": False,
                    "answers": [{"text": text, "answer_start": start}]})
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "v2.0", "data": [{"title": "long", "paragraphs": [{"context": context, "qas": qas}]}]},
                  f)
    return path


def word_vocab(directory: str, text: str) -> str:
    words, chars = set(), set()
    for token in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower()):
        words.add(token)
        chars.update(token)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words)
    tokens += sorted(c for c in chars if c not in words) + sorted("##" + c for c in chars)
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in tokens)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes_mb", default="0.1,0.3,1", help="comma-separated context sizes in MB (10^6 chars)")
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--vocab_file", help="WordPiece vocab.txt (default: a word vocabulary of the text)")
    parser.add_argument("--text_file", help="prose to repeat (default: CPython's documentation topics)")
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--max_query_length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", default="train,predict")
    args = parser.parse_args(argv)

    from electra.runtime import cpu_info
    from electra.squad.data import load_features
    from electra.tokenization import load_tokenizer

    source = prose(args.text_file)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = load_tokenizer(args.vocab_file or word_vocab(tmp, source))
        for size in (float(s) for s in args.sizes_mb.split(",") if s):
            context = long_context(int(size * 1_000_000), source)
            path = squad_file(os.path.join(tmp, f"squad-{size}.json"), context, args.questions)
            for mode in args.modes.split(","):
                settings = dict(is_training=mode == "train", version_2_with_negative=True,
                                max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
                                max_query_length=args.max_query_length)
                times = []
                for _ in range(max(1, args.repeats)):
                    gc.collect()
                    start = time.perf_counter()
                    features = load_features(path, tokenizer, **settings)
                    times.append(time.perf_counter() - start)
                    del features
                gc.collect()
                tracemalloc.start()
                features = load_features(path, tokenizer, **settings)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                print(json.dumps({"context_mb": size, "context_chars": len(context),
                                  "context_tokens": len(tokenizer.encode_with_offsets(context)[0]),
                                  "questions": args.questions, "mode": mode, "features": len(features),
                                  "seconds": round(min(times), 3), "peak_traced_mb": round(peak / 2**20, 1),
                                  "vocab": os.path.basename(args.vocab_file) if args.vocab_file else "words",
                                  "cpu": cpu_info()}),
                      flush=True)
                del features
    return 0


if __name__ == "__main__":
    sys.exit(main())
