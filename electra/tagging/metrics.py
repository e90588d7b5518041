"""Token tagging metrics: entity-level precision/recall/F1 equal to seqeval's default mode, and token accuracy.

NER is reported, everywhere people compare numbers, as seqeval's default (conlleval-compatible) micro scores, so the
package reproduces them exactly without needing seqeval at run time (``tests/tagging/test_metrics.py`` checks them
against seqeval on real WNUT-17 and UD tag sequences, ``tests/fixtures/metrics/``).

How entities are read (seqeval's default mode, as conlleval): each tag is a one-letter prefix and a type
("B-PER" → B, PER; "O" and a bare "B" have the type "_"). Reading left to right, an entity

* ends before a tag when the previous tag was E- or S-; or the previous was B-/I- and this one is B-, S- or O; or the
  previous was not O and the type changes;
* starts at a tag that is B- or S-; or is I-/E- after O, E- or S-; or is not O and changes the type.

So an I- tag after O or after another type starts an entity (IOB1 and sloppy predictions count, they are not
dropped), BIOES and BIO sequences are read by the same rules, and a "." tag, like O, neither ends nor starts an
entity by a type change. Sentences
are joined with an "O" between them, so no entity spans two sentences. An entity is right only when its type, start
and end all match.

Undefined ratios are 0 (seqeval's ``zero_division="warn"`` default, without the warning): precision with no
predicted entity, recall with no true entity, F1 when precision + recall is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

ENTITY_SCHEMES = ("BIO", "IOB1", "IOB2", "BIOES", "IOBES")
"""Tag schemes scored by entities (read alike, see above); ``"none"`` (POS-like tags) is scored by accuracy only."""


def _split(tag: str) -> tuple[str, str]:
    if not tag:
        raise ValueError("empty tag")
    head, dash, tail = tag[1:].partition("-")
    return tag[0], (tail if dash else head) or "_"


def _ends(prev: str, prefix: str, prev_type: str, type_: str) -> bool:
    return (prev in "ES" or (prev in "BI" and prefix in "BSO")
            or (prev not in ("O", ".") and prev_type != type_))


def _starts(prev: str, prefix: str, prev_type: str, type_: str) -> bool:
    return (prefix in "BS" or (prev in "ESO" and prefix in "EI")
            or (prefix not in ("O", ".") and prev_type != type_))


def extract_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of one tag sequence as ``(type, first, last)`` (inclusive indices), as seqeval's ``get_entities``."""
    entities = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, type_ = _split(tag)
        if _ends(prev, prefix, prev_type, type_):
            entities.append((prev_type, begin, i - 1))
        if _starts(prev, prefix, prev_type, type_):
            begin = i
        prev, prev_type = prefix, type_
    return entities


def _checked(true_tags, pred_tags) -> tuple[list[list[str]], list[list[str]]]:
    true_tags, pred_tags = [list(s) for s in true_tags], [list(s) for s in pred_tags]
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(pred_tags)} predicted")
    for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted")
    return true_tags, pred_tags


def _joined(sentences: list[list[str]]) -> list[str]:
    return [tag for sentence in sentences for tag in [*sentence, "O"]]


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2.0 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]], scheme=None) -> dict:
    """Micro precision/recall/F1 over all entities and the same per type, as seqeval's ``precision_score``,
    ``recall_score``, ``f1_score`` and ``classification_report`` (default mode, micro average).

    ``true_tags`` / ``pred_tags``: one tag list per sentence, equal lengths. ``scheme`` (None or one of
    ENTITY_SCHEMES) only documents the caller's scheme: the default mode reads all of them by the same rules.
    Returns ``{"precision", "recall", "f1", "per_type": {type: {"precision", "recall", "f1", "support"}}}``, types
    sorted, including types only predicted (support 0); support = number of true entities of that type.
    """
    if scheme is not None and scheme.upper() not in ENTITY_SCHEMES:
        raise ValueError(f"scheme {scheme!r} is not an entity scheme; expected one of {ENTITY_SCHEMES}")
    true_tags, pred_tags = _checked(true_tags, pred_tags)
    true_set = set(extract_entities(_joined(true_tags)))
    pred_set = set(extract_entities(_joined(pred_tags)))
    hits = true_set & pred_set
    per_type = {}
    for type_ in sorted({e[0] for e in true_set | pred_set}):
        n_true = sum(e[0] == type_ for e in true_set)
        p, r, f = _prf(sum(e[0] == type_ for e in hits), sum(e[0] == type_ for e in pred_set), n_true)
        per_type[type_] = {"precision": p, "recall": r, "f1": f, "support": n_true}
    p, r, f = _prf(len(hits), len(pred_set), len(true_set))
    return {"precision": p, "recall": r, "f1": f, "per_type": per_type}


def token_accuracy(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> float:
    """Fraction of tokens whose tag is right, over all sentences (seqeval's ``accuracy_score``; POS's metric)."""
    true_tags, pred_tags = _checked(true_tags, pred_tags)
    total = sum(len(s) for s in true_tags)
    if total == 0:
        raise ValueError("no tokens to score")
    return sum(t == p for ts, ps in zip(true_tags, pred_tags) for t, p in zip(ts, ps)) / total


def tagging_scores(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]], scheme: str) -> dict:
    """The scores of a tagging task: for an entity scheme (``"BIO"``, ``"BIOES"``, see ENTITY_SCHEMES) entity_scores
    plus ``"accuracy"``; for ``"none"`` (POS and other plain tag sets) ``{"accuracy"}`` only."""
    if scheme.lower() == "none":
        return {"accuracy": token_accuracy(true_tags, pred_tags)}
    scores = entity_scores(true_tags, pred_tags, scheme)
    scores["accuracy"] = token_accuracy(true_tags, pred_tags)
    return scores
