"""The accuracy benchmark's peer: a plain PyTorch fine-tuning loop over transformers'
``ElectraForSequenceClassification`` / ``ElectraForTokenClassification``, started by
``benchmarks/finetune_accuracy.py`` with a Python that has torch, transformers (and seqeval for BIO tags). It imports
neither TensorFlow nor electra: its own file readers, tokenization (``BertTokenizerFast`` on the weights' own
``vocab.txt``), labels, loop and metrics.

Weights: a BERT checkpoint (``model.safetensors`` + ``config.json``, e.g. sentence-transformers/all-MiniLM-L6-v2).
ELECTRA with ``embedding_size == hidden_size`` is BERT without the pooler, so ``bert.*``/bare encoder names map to
``electra.*``, the pooler is dropped and the head starts as transformers initializes it (normal(0, 0.02), zero bias).

Loop: shuffled batches (a new permutation each epoch, the last partial batch dropped), steps =
ceil(epochs × (N // batch)), AdamW (``torch.optim.AdamW``; no decay on biases and LayerNorm), global-norm clipping,
linear warmup from 0 then linear decay to 0 (``get_linear_schedule_with_warmup``), the same definitions as
``electra-finetune --optimizer.name=adamw --optimizer.poly_power=1``.

Tagging: each word's tag on its first sub-token (transformers' ``word_ids``), -100 elsewhere; a word whose first
sub-token falls outside the window (or that has none) is counted in ``words_without_token`` and scored as the most
frequent training tag. Scores: accuracy (classification); token accuracy over words, and for BIO/BIOES tags
seqeval's default-mode entity precision/recall/F1.

    python benchmarks/finetune_accuracy_reference.py --kind classification --weights_dir D --train_file T \\
        --eval_file E --seeds 0,1,2 [hyper-parameters]   # one JSON object per seed on stdout
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import os
import sys
import time


def read_sst(path: str) -> list[tuple[str, str]]:
    """GLUE SST-2 layout: header ``sentence\\tlabel``; quoting off (the files hold bare ``"``)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row[0], row[1]) for row in rows[1:]]


def read_tagged(path: str) -> list[tuple[list[str], list[str]]]:
    """``.conllu`` (UPOS, column 4; comments, multiword ranges and empty nodes skipped) or a CoNLL column file
    (the first column the word, the last the tag; ``-DOCSTART-`` skipped): (words, tags) per sentence."""
    conllu = path.endswith(".conllu")
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if conllu:
                if line.startswith("#"):
                    continue
                cols = line.split("\t")
                if "-" in cols[0] or "." in cols[0]:
                    continue
                words.append(cols[1])
                tags.append(cols[3])
            else:
                cols = line.split()
                if cols[0] == "-DOCSTART-":
                    continue
                words.append(cols[0])
                tags.append(cols[-1])
    if words:
        sentences.append((words, tags))
    return sentences


def electra_from_bert(cls, weights_dir: str, num_labels: int):
    """``cls`` (an ``Electra*`` model) built from a BERT checkpoint's config and loaded with its encoder weights;
    only the head (``classifier.*``) is left as transformers initialized it."""
    from safetensors.torch import load_file
    from transformers import ElectraConfig
    with open(os.path.join(weights_dir, "config.json"), encoding="utf-8") as f:
        bert = json.load(f)
    config = ElectraConfig(
        vocab_size=bert["vocab_size"], embedding_size=bert["hidden_size"], hidden_size=bert["hidden_size"],
        num_hidden_layers=bert["num_hidden_layers"], num_attention_heads=bert["num_attention_heads"],
        intermediate_size=bert["intermediate_size"], hidden_act=bert["hidden_act"],
        hidden_dropout_prob=bert["hidden_dropout_prob"],
        attention_probs_dropout_prob=bert["attention_probs_dropout_prob"],
        max_position_embeddings=bert["max_position_embeddings"], type_vocab_size=bert["type_vocab_size"],
        layer_norm_eps=bert["layer_norm_eps"], initializer_range=bert["initializer_range"], num_labels=num_labels)
    model = cls(config)
    state = {}
    for name, tensor in load_file(os.path.join(weights_dir, "model.safetensors")).items():
        name = name[len("bert."):] if name.startswith("bert.") else name
        if name.startswith(("embeddings.", "encoder.")) and not name.endswith("position_ids"):
            state["electra." + name] = tensor
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if unexpected or any(not m.startswith("classifier.") for m in missing):
        raise ValueError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    return model, len(state)


def encode_classification(tokenizer, rows, labels, seq):
    import torch
    enc = tokenizer([text for text, _ in rows], truncation=True, max_length=seq, padding="max_length",
                    return_tensors="pt")
    truncated = sum(len(ids) > seq for ids in tokenizer([text for text, _ in rows])["input_ids"])
    return ({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
             "token_type_ids": enc["token_type_ids"]},
            torch.tensor([labels.index(label) for _, label in rows]), {"truncated": truncated})


def encode_tagging(tokenizer, sentences, labels, seq):
    """Inputs, labels ``[N, seq]`` (-100 off first sub-tokens) and each word's first sub-token position (-1: none)."""
    import torch
    enc = tokenizer([words for words, _ in sentences], is_split_into_words=True, truncation=True, max_length=seq,
                    padding="max_length", return_tensors="pt")
    targets = torch.full((len(sentences), seq), -100)
    first = []
    for i, (words, tags) in enumerate(sentences):
        positions = [-1] * len(words)
        for position, word in enumerate(enc.word_ids(i)):
            if word is not None and positions[word] < 0:
                positions[word] = position
                targets[i, position] = labels.index(tags[word])
        first.append(positions)
    return ({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
             "token_type_ids": enc["token_type_ids"]}, targets,
            {"words_without_token": sum(p < 0 for positions in first for p in positions), "first": first})


def tag_scheme(names) -> str:
    prefixes = {name.split("-", 1)[0] for name in names if name != "O"}
    return "BIO" if "O" in names and prefixes <= {"B", "I", "E", "S"} and prefixes & {"B", "I"} else "none"


def train(model, inputs, targets, args, seed: int) -> dict:
    import torch
    from transformers import get_linear_schedule_with_warmup
    n = len(targets)
    steps_per_epoch = max(1, n // args.batch_size)
    total = max(1, math.ceil(args.epochs * steps_per_epoch))
    warmup = int(args.warmup_proportion * total)
    no_decay = [p for name, p in model.named_parameters() if "LayerNorm" in name or name.endswith("bias")]
    decay = [p for name, p in model.named_parameters() if not ("LayerNorm" in name or name.endswith("bias"))]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.learning_rate, betas=(0.9, 0.999), eps=args.epsilon)
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, total)
    order = torch.Generator().manual_seed(seed)
    model.train()
    step, losses = 0, []
    while step < total:
        permutation = torch.randperm(n, generator=order)
        for start in range(0, steps_per_epoch * args.batch_size, args.batch_size):
            if step == total:
                break
            index = permutation[start:start + args.batch_size]
            loss = model(**{k: v[index] for k, v in inputs.items()}, labels=targets[index]).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip_norm)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
    return {"steps": total, "warmup_steps": warmup, "final_loss": sum(losses[-10:]) / len(losses[-10:])}


def predict(model, inputs, batch: int):
    import torch
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(inputs["input_ids"]), batch):
            out.append(model(**{k: v[start:start + batch] for k, v in inputs.items()}).logits.argmax(-1))
    return torch.cat(out)


def run_seed(args, seed: int) -> dict:
    import torch
    from transformers import (BertTokenizerFast, ElectraForSequenceClassification,
                              ElectraForTokenClassification)
    started = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = BertTokenizerFast(vocab_file=os.path.join(args.weights_dir, "vocab.txt"), do_lower_case=True)
    record: dict = {"seed": seed}
    if args.kind == "classification":
        train_rows, eval_rows = read_sst(args.train_file), read_sst(args.eval_file)
        labels = sorted({label for _, label in train_rows})
        model, loaded = electra_from_bert(ElectraForSequenceClassification, args.weights_dir, len(labels))
        inputs, targets, info = encode_classification(tokenizer, train_rows, labels, args.max_seq_length)
        record["train"] = {**train(model, inputs, targets, args, seed), "examples": len(train_rows), **info}
        inputs, targets, info = encode_classification(tokenizer, eval_rows, labels, args.max_seq_length)
        predicted = predict(model, inputs, args.predict_batch_size)
        record["eval"] = {"examples": len(eval_rows), **info}
        record["metrics"] = {"accuracy": float((predicted == targets).float().mean())}
    else:
        train_rows, eval_rows = read_tagged(args.train_file), read_tagged(args.eval_file)
        labels = sorted({tag for _, tags in train_rows for tag in tags})
        model, loaded = electra_from_bert(ElectraForTokenClassification, args.weights_dir, len(labels))
        inputs, targets, info = encode_tagging(tokenizer, train_rows, labels, args.max_seq_length)
        record["train"] = {**train(model, inputs, targets, args, seed), "sentences": len(train_rows),
                           "words_without_token": info["words_without_token"]}
        inputs, _, info = encode_tagging(tokenizer, eval_rows, labels, args.max_seq_length)
        predicted = predict(model, inputs, args.predict_batch_size)
        fallback = collections.Counter(tag for _, tags in train_rows for tag in tags).most_common(1)[0][0]
        true = [tags for _, tags in eval_rows]
        pred = [[labels[int(predicted[i, p])] if p >= 0 else fallback for p in positions]
                for i, positions in enumerate(info["first"])]
        record["eval"] = {"sentences": len(eval_rows), "words_without_token": info["words_without_token"]}
        words = sum(len(t) for t in true)
        record["metrics"] = {"accuracy": sum(a == b for t, p in zip(true, pred) for a, b in zip(t, p)) / words}
        if tag_scheme(labels) == "BIO":
            from seqeval.metrics import f1_score, precision_score, recall_score
            record["metrics"].update(precision=precision_score(true, pred), recall=recall_score(true, pred),
                                     f1=f1_score(true, pred))
    record["tensors_loaded"] = loaded
    record["seconds"] = time.perf_counter() - started
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("classification", "tagging"), required=True)
    parser.add_argument("--weights_dir", required=True)
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--eval_file", required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--predict_batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--epsilon", type=float, default=1e-6)
    parser.add_argument("--grad_clip_norm", type=float, default=1.0)
    args = parser.parse_args(argv)
    import torch
    import transformers
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.peer import reuse_freed_memory      # what the speed benchmarks' peer runs with
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "torch_threads": torch.get_num_threads(), "malloc": reuse_freed_memory()}
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        print(json.dumps({**run_seed(args, seed), "versions": versions}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
