"""SQuAD v1.1 / v2.0 JSON → examples → fixed-length features (sliding windows over the context).

Each feature is ``[CLS] query [SEP] context-window [SEP] [PAD]…`` with ``segment_ids`` 0 for the query part and
1 for the window. Answers are located with the tokenizer's character offsets into the ORIGINAL context, so a
predicted token span maps back to an exact substring of the context. A gold answer whose token span does not
reproduce the answer text (e.g. an answer that ends inside a word piece) does not "round-trip": it is counted and
the example is skipped for training (``FeatureStats``). v2 impossible questions, and windows that do not contain
the answer, point at ``[CLS]`` (start = end = 0).

Bad input never crashes mid-training: a file that cannot be read, is not UTF-8, is not JSON or lacks the SQuAD
structure raises ``SquadFormatError`` naming the file (and question id), and so do a question id that appears
twice and an ``is_impossible`` that is not a JSON boolean (``"false"`` is not false); a question with bad fields
(missing text, ``answer_start`` outside the context, text not at ``answer_start``, empty context) is skipped with a
warning and counted.

Cost is linear in the context length: a paragraph is tokenized and its windows and max-context flags computed once
for all its questions, and an answer is located by binary search in the token offsets.
"""
from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import logging
import os
from typing import Sequence

import numpy as np

from electra.io import StorageError, atomic_write, file_sha256

log = logging.getLogger("electra.squad")
CACHE_FORMAT = 2     # 2: each context stored once, examples refer to it by index


class SquadFormatError(ValueError):
    """A SQuAD file that cannot be used; the message names the file (and the question id where known)."""


@dataclasses.dataclass
class SquadExample:
    qas_id: str
    question: str
    context: str
    answer_text: str = ""
    answer_start: int = -1          # character offset into ``context``; -1 for impossible / prediction only
    is_impossible: bool = False
    gold_answers: tuple = ()


@dataclasses.dataclass
class FeatureStats:
    examples: int = 0
    features: int = 0
    skipped_questions: int = 0      # bad fields in the file (see warnings)
    not_round_trip: int = 0         # answer token span does not reproduce the answer text (training only)
    truncated_queries: int = 0
    impossible: int = 0

    def summary(self) -> str:
        return (f"{self.examples} examples → {self.features} features; skipped {self.skipped_questions} malformed "
                f"question(s), {self.not_round_trip} answer(s) that do not round-trip through the tokenizer; "
                f"{self.truncated_queries} query(ies) truncated; {self.impossible} impossible")


@dataclasses.dataclass
class Features:
    """Arrays (``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[N, S]``; ``start_positions``,
    ``end_positions``, ``is_impossible``, ``example_index`` int32 ``[N]``) plus per-feature metadata for
    post-processing: ``token_offsets[i][t]`` = (start, end) character span in the context for context tokens, None
    otherwise; ``max_context[i][t]`` whether window ``i`` is the best window for token ``t``."""
    arrays: dict
    token_offsets: list
    max_context: list
    examples: list
    stats: FeatureStats

    def __len__(self) -> int:
        return int(self.arrays["input_ids"].shape[0])

    def model_inputs(self) -> dict:
        return {k: self.arrays[k] for k in ("input_ids", "input_mask", "segment_ids")}


# --- reading ---------------------------------------------------------------------------------------------------
def load_json(path: str, what: str = "SQuAD file"):
    """A UTF-8 JSON file (BOM allowed); unreadable, non-UTF-8 or malformed input names the file and position."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SquadFormatError(f"{what} {path}: cannot read ({e})") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SquadFormatError(f"{what} {path}: not UTF-8 (invalid byte at offset {e.start})") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SquadFormatError(f"{what} {path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") \
            from e


def load_squad_json(path: str) -> dict:
    data = load_json(path, "SQuAD file")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SquadFormatError(f"SQuAD file {path}: expected a JSON object with a 'data' list")
    return data


def iter_paragraphs(data: dict, what: str):
    """``(where, paragraph)`` for each paragraph of a SQuAD-shaped ``data`` object (``where`` = "article A paragraph
    P"); a missing ``paragraphs`` or ``qas`` list is a ``SquadFormatError`` naming ``what`` and the place."""
    for a_index, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise SquadFormatError(f"{what}: article {a_index} has no 'paragraphs' list")
        for p_index, paragraph in enumerate(paragraphs):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise SquadFormatError(f"{what}: article {a_index} paragraph {p_index} has no 'qas' list")
            yield f"article {a_index} paragraph {p_index}", paragraph


def read_examples(path: str, is_training: bool, version_2_with_negative: bool = False,
                  stats: FeatureStats | None = None) -> list[SquadExample]:
    """Examples of a SQuAD file. Structural errors raise ``SquadFormatError``, and so do a question id that
    appears twice and an ``is_impossible`` that is not a JSON boolean; a bad question is skipped and counted in
    ``stats.skipped_questions`` (training) — at prediction time it still needs an id, question and context."""
    stats = stats if stats is not None else FeatureStats()
    data = load_squad_json(path)
    examples: list[SquadExample] = []
    seen: dict[str, str] = {}      # question id → where it was first seen
    for where, paragraph in iter_paragraphs(data, f"SQuAD file {path}"):
        context = paragraph.get("context")
        # once per paragraph, not per question: a context can be megabytes long
        usable_context = isinstance(context, str) and bool(context) and not context.isspace()
        for qa in paragraph["qas"]:
            qid = qa.get("id") if isinstance(qa, dict) else None
            if isinstance(qid, (str, int)) and not isinstance(qid, bool):
                if str(qid) in seen:
                    raise SquadFormatError(f"SQuAD file {path}: question id {str(qid)!r} appears twice "
                                           f"({seen[str(qid)]} and {where}); ids must be unique")
                seen[str(qid)] = where
            example = _read_question(path, qa, context if usable_context else None, is_training,
                                     version_2_with_negative)
            if example is None:
                stats.skipped_questions += 1
            else:
                examples.append(example)
    if not examples:
        raise SquadFormatError(f"SQuAD file {path}: no usable questions")
    return examples


def _read_question(path, qa, context, is_training, v2) -> SquadExample | None:
    """``context``: the paragraph's text, or None when it is missing, empty or only white space."""
    qid = qa.get("id") if isinstance(qa, dict) else None
    where = f"SQuAD file {path}, question {qid!r}"
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or not isinstance(qa.get("question"), str):
        raise SquadFormatError(f"{where}: a question needs an 'id' and a 'question' string")
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise SquadFormatError(f"{where}: 'is_impossible' must be a JSON boolean (true or false), got "
                               f"{impossible!r}")
    if context is None:
        log.warning("%s: empty or missing context; skipped", where)
        return None
    question = qa["question"]
    if not question.strip():
        log.warning("%s: empty question; skipped", where)
        return None
    answers = qa.get("answers", [])
    if not isinstance(answers, list):
        log.warning("%s: 'answers' is not a list; skipped", where)
        return None
    impossible = impossible and v2
    golds = tuple(a.get("text", "") for a in answers if isinstance(a, dict))
    example = SquadExample(str(qid), question, context, is_impossible=impossible, gold_answers=golds)
    if not is_training or impossible:
        return example
    if not answers:
        log.warning("%s: no answer for a training question%s; skipped", where,
                    "" if v2 else " (v1.1 has no impossible questions)")
        return None
    answer = answers[0]
    text, start = (answer.get("text"), answer.get("answer_start")) if isinstance(answer, dict) else (None, None)
    if not isinstance(text, str) or not text or not isinstance(start, int) or isinstance(start, bool):
        log.warning("%s: answer needs a non-empty 'text' and an integer 'answer_start'; skipped", where)
        return None
    if not 0 <= start < len(context) or start + len(text) > len(context):
        log.warning("%s: answer_start %d (+%d characters) outside the context (%d characters); skipped", where,
                    start, len(text), len(context))
        return None
    if context[start:start + len(text)] != text:
        log.warning("%s: the context at answer_start %d reads %r, not the answer %r; skipped", where, start,
                    context[start:start + len(text)], text)
        return None
    example.answer_text, example.answer_start = text, start
    return example


# --- features --------------------------------------------------------------------------------------------------
def _windows(num_tokens: int, max_tokens: int, stride: int) -> list[tuple[int, int]]:
    spans, start = [], 0
    while True:
        length = min(max_tokens, num_tokens - start)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, stride)


def _best_windows(spans, num_tokens: int) -> np.ndarray:
    """For each context token, the window where it has the most context (Google BERT's rule: the largest
    min(left context, right context) + 0.01 × window length; the first such window on ties).

    One pass over the windows, O(total window tokens) time and O(tokens) memory: a token only competes in the
    windows that hold it, and a later window takes it only with a strictly larger score."""
    best = np.zeros(num_tokens, np.int64)
    best_score = np.full(num_tokens, -np.inf)
    scores: dict[int, np.ndarray] = {}
    for w, (start, length) in enumerate(spans):
        score = scores.get(length)
        if score is None:
            position = np.arange(length)
            score = scores[length] = np.minimum(position, length - 1 - position) + 0.01 * length
        current = best_score[start:start + length]
        better = score > current
        current[better] = score[better]
        best[start:start + length][better] = w
    return best


class _Paragraph:
    """What every question of one context shares, computed once: its tokens and offsets, the token search
    index for answers, and for each window layout (it depends on the query length) the windows and every token's
    max-context window."""

    def __init__(self, context: str, tokenizer, doc_stride: int):
        self.context = context
        ids, offsets = tokenizer.encode_with_offsets(context)
        self.ids = np.asarray(ids, np.int32)
        self.offsets = [tuple(o) for o in offsets]
        self.doc_stride = doc_stride
        self._starts = [s for s, _ in self.offsets]
        self._ends = [e for _, e in self.offsets]
        self._sorted = all(a <= b for a, b in zip(self._starts, self._starts[1:])) and \
            all(a <= b for a, b in zip(self._ends, self._ends[1:]))
        self._layouts: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self.offsets)

    def answer_tokens(self, a_start: int, a_end: int) -> list[int]:
        """Indices of the tokens that overlap characters [a_start, a_end) (zero-width tokens excluded): a binary
        search in the (monotone) offsets, so the cost is the answer's length, not the context's."""
        if self._sorted:
            lo = bisect.bisect_right(self._ends, a_start)    # first token ending after a_start
            hi = bisect.bisect_left(self._starts, a_end)     # first token starting at or after a_end
            candidates = range(lo, hi)
        else:
            candidates = range(len(self.offsets))
        offsets = self.offsets
        return [i for i in candidates if offsets[i][0] < a_end and offsets[i][1] > a_start
                and offsets[i][1] > offsets[i][0]]

    def layout(self, max_tokens: int):
        """``(spans, best)``: the windows for ``max_tokens`` context tokens each, and for every token the index of
        its max-context window."""
        if max_tokens not in self._layouts:
            spans = _windows(len(self), max_tokens, self.doc_stride)
            self._layouts[max_tokens] = (spans, _best_windows(spans, len(self)).astype(np.int32))
        return self._layouts[max_tokens]


def convert_examples_to_features(examples: Sequence[SquadExample], tokenizer, max_seq_length: int = 384,
                                 doc_stride: int = 128, max_query_length: int = 64, is_training: bool = False,
                                 stats: FeatureStats | None = None) -> Features:
    """Memory and time grow linearly with the context length: a paragraph is tokenized, and its windows and
    max-context flags computed, once for all its (consecutive) questions; each question only adds its own
    windows' rows."""
    stats = stats if stats is not None else FeatureStats()
    if max_seq_length < max_query_length + 4:
        raise ValueError(f"max_seq_length={max_seq_length} leaves no room for context after max_query_length="
                         f"{max_query_length}")
    keys = ("input_ids", "input_mask", "segment_ids", "start_positions", "end_positions", "is_impossible",
            "example_index")
    blocks: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    offsets_out, max_context_out, kept = [], [], []
    paragraph: _Paragraph | None = None
    for example in examples:
        query_ids = tokenizer.encode(example.question)
        if len(query_ids) > max_query_length:
            log.warning("question %r: %d tokens, truncated to max_query_length=%d", example.qas_id, len(query_ids),
                        max_query_length)
            stats.truncated_queries += 1
            query_ids = query_ids[:max_query_length]
        if paragraph is None or example.context != paragraph.context:
            paragraph = _Paragraph(example.context, tokenizer, doc_stride)  # questions of a paragraph are consecutive
        if not len(paragraph):
            log.warning("question %r: the context has no tokens; skipped", example.qas_id)
            stats.skipped_questions += 1
            continue
        tok_start = tok_end = None
        if is_training and not example.is_impossible:
            a_start, a_end = example.answer_start, example.answer_start + len(example.answer_text)
            inside = paragraph.answer_tokens(a_start, a_end)
            if inside:
                tok_start, tok_end = inside[0], inside[-1]
                span = example.context[paragraph.offsets[tok_start][0]:paragraph.offsets[tok_end][1]]
            if not inside or span.strip() != example.answer_text.strip():
                log.warning("question %r: the answer %r does not round-trip through the tokenizer (token span "
                            "reads %r); skipped", example.qas_id, example.answer_text,
                            span if inside else "")
                stats.not_round_trip += 1
                continue
        example_index = len(kept)
        kept.append(example)
        stats.examples += 1
        stats.impossible += int(example.is_impossible)
        spans, best_window = paragraph.layout(max_seq_length - len(query_ids) - 3)
        n = len(spans)
        context_begin = len(query_ids) + 2
        input_ids = np.full((n, max_seq_length), tokenizer.pad_id, np.int32)
        input_mask = np.zeros((n, max_seq_length), np.int32)
        segment_ids = np.zeros((n, max_seq_length), np.int32)
        input_ids[:, 0] = tokenizer.cls_id
        input_ids[:, 1:context_begin - 1] = query_ids
        input_ids[:, context_begin - 1] = tokenizer.sep_id
        start_positions = np.zeros(n, np.int32)
        end_positions = np.zeros(n, np.int32)
        impossible = np.full(n, int(example.is_impossible), np.int32)
        prefix_offsets: list = [None] * context_begin
        prefix_flags = [False] * context_begin
        for w, (start, length) in enumerate(spans):
            end = context_begin + length
            input_ids[w, context_begin:end] = paragraph.ids[start:start + length]
            input_ids[w, end] = tokenizer.sep_id
            input_mask[w, :end + 1] = 1
            segment_ids[w, context_begin:end + 1] = 1
            offsets_out.append(prefix_offsets + paragraph.offsets[start:start + length] + [None])
            max_context_out.append(prefix_flags + (best_window[start:start + length] == w).tolist() + [False])
            if is_training and not example.is_impossible:
                if start <= tok_start and tok_end < start + length:
                    start_positions[w] = tok_start - start + context_begin
                    end_positions[w] = tok_end - start + context_begin
                else:
                    impossible[w] = 1   # this window does not hold the answer: point at [CLS]
        for key, block in zip(keys, (input_ids, input_mask, segment_ids, start_positions, end_positions, impossible,
                                     np.full(n, example_index, np.int32))):
            blocks[key].append(block)
    stats.features = len(offsets_out)
    if stats.not_round_trip or stats.skipped_questions:
        log.warning("SQuAD features: %s", stats.summary())
    else:
        log.info("SQuAD features: %s", stats.summary())
    empty = {k: np.zeros((0, max_seq_length) if k in ("input_ids", "input_mask", "segment_ids") else (0,), np.int32)
             for k in keys}
    arrays = {k: np.concatenate(v) if v else empty[k] for k, v in blocks.items()}
    return Features(arrays, offsets_out, max_context_out, kept, stats)


# --- cache -----------------------------------------------------------------------------------------------------
def _file_hash(path: str) -> str:
    return file_sha256(path)[:16]


def _vocab_hash(tokenizer) -> str:
    source = getattr(tokenizer, "vocab_file", None) or getattr(tokenizer, "model_file", None)
    base = _file_hash(source) if source and os.path.isfile(source) else repr(tokenizer)
    return hashlib.sha256(f"{base}|{tokenizer.lower_case}".encode()).hexdigest()[:16]


def cache_key(squad_file: str, tokenizer, max_seq_length: int, doc_stride: int, max_query_length: int,
              is_training: bool, version_2_with_negative: bool) -> str:
    settings = (f"v{CACHE_FORMAT}|{_file_hash(squad_file)}|{_vocab_hash(tokenizer)}|{max_seq_length}|{doc_stride}|"
                f"{max_query_length}|{int(is_training)}|{int(version_2_with_negative)}")
    return hashlib.sha256(settings.encode()).hexdigest()[:20]


def _save_cache(path: str, features: Features) -> None:
    contexts: dict[str, int] = {}     # a paragraph's text once, not once per question (contexts can be megabytes)
    examples = []
    for example in features.examples:
        record = dataclasses.asdict(example)
        record["context"] = contexts.setdefault(example.context, len(contexts))
        examples.append(record)
    meta = {"token_offsets": features.token_offsets, "max_context": features.max_context, "examples": examples,
            "contexts": list(contexts), "stats": dataclasses.asdict(features.stats)}
    with atomic_write(path, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8), **features.arrays)


def _load_cache(path: str) -> Features:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "meta"}
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
    offsets = [[tuple(o) if o is not None else None for o in row] for row in meta["token_offsets"]]
    contexts = meta["contexts"]
    examples = [SquadExample(**{**e, "context": contexts[e["context"]], "gold_answers": tuple(e["gold_answers"])})
                for e in meta["examples"]]
    return Features(arrays, offsets, meta["max_context"], examples, FeatureStats(**meta["stats"]))


def load_features(squad_file: str, tokenizer, *, is_training: bool, version_2_with_negative: bool = False,
                  max_seq_length: int = 384, doc_stride: int = 128, max_query_length: int = 64,
                  cache_dir: str | None = None) -> Features:
    """Examples and features of a SQuAD file, from ``cache_dir`` when this (file, vocabulary, settings) was
    converted before; the cache is written atomically (temporary name, then rename). A cache file that cannot be
    read (truncated, garbage) is a miss: rebuilt and replaced, with a warning naming it; a cache that cannot be
    written (full disk, read-only ``cache_dir``) is a warning: it only saves time."""
    path = None
    if cache_dir:
        key = cache_key(squad_file, tokenizer, max_seq_length, doc_stride, max_query_length, is_training,
                        version_2_with_negative)
        path = os.path.join(cache_dir, f"squad_features_{key}.npz")
        if os.path.exists(path):
            try:
                features = _load_cache(path)
                log.info("SQuAD features from cache %s", path)
                return features
            except Exception as e:      # noqa: BLE001 -- truncated, garbage, another format: a cache miss
                log.warning("unreadable feature cache %s (%s); rebuilding it", path, e)
    stats = FeatureStats()
    examples = read_examples(squad_file, is_training, version_2_with_negative, stats)
    features = convert_examples_to_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                                            is_training, stats)
    if not len(features):
        raise SquadFormatError(f"SQuAD file {squad_file}: no features could be built ({stats.summary()})")
    if path:
        try:
            _save_cache(path, features)
        except StorageError as e:
            log.warning("feature cache not written: %s", e)
    return features

