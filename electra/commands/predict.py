"""Predict with an exported SavedModel alone (vocabulary, labels and settings come from its assets): answers of a
SQuAD export, labels and probabilities of a sentence classifier, scores of a regressor, tags of a tagger.

    electra-predict --saved_model out/squad/saved_model \\
        --question "Who built the lighthouse?" --context "The lighthouse was built by ..."
    electra-predict --saved_model out/squad/saved_model --input_file tests/fixtures/squad/tiny_squad.json
    electra-predict --saved_model out/sst-2/saved_model --text "a gorgeous, witty film"
    electra-predict --saved_model out/rte/saved_model --text "A man plays." --text_pair "Someone plays."
    electra-predict --saved_model out/ner/saved_model --input_file sentences.jsonl

Classifiers and taggers: ``--text`` (a tagger splits it on white space) with ``--text_pair`` for sentence pairs, or
``--input_file``: JSON Lines or a JSON list of objects ``{"text"[, "text_pair"][, "id"]}`` (a tagger also takes
``{"words": [...]}``), or a plain text file, one text a line. Output: one JSON line per item, ``{"id", "label",
"probabilities"}``, ``{"id", "score"}`` or ``{"id", "words", "tags"}``.

SQuAD:
Prints one JSON object a line, per item in input order: ``id``, ``question``, ``answer``
(= ``context[start_char:end_char]``), ``score``, ``start_char``, ``end_char`` (``-1`` when a v2 model finds no
answer); an item that cannot be answered (empty or missing question or context, a repeated id, ...) gets
``{"id", "error"}`` naming the item and the field instead, the other items are still answered, and the exit status
is 1. Unusable arguments or an unreadable input file: a message and exit status 2.

The export's settings say how to decode it (``"head"`` in ``squad_settings.json``): a joint-head export is read
through its ``beam`` signature and decoded by beam search (``score`` is then the span's log-probability, and v2's
``null_score_diff`` the answer class's "no answer" logit); a plain head through ``serving_default`` (or, with the
answerability classifier, its ``answerability`` signature, whose logit decides v2's "no answer").
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

from electra.commands.entry import Command, missing_inputs
from electra.configs import ConfigError, knob


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    saved_model: str = knob("", "SavedModel directory written by electra-squad --export_dir or electra-export.",
                            required=True)
    question: str | None = knob(None, "SQuAD export: one question (with --context).")
    context: str | None = knob(None, "SQuAD export: the passage that answers --question.")
    text: str | None = knob(None, "Classifier or tagger export: one text (a tagger splits it on white space).")
    text_pair: str | None = knob(None, "Sentence-pair classifier: the second text of --text.")
    input_file: str | None = knob(None, "SQuAD: a JSON list of {\"question\", \"context\"[, \"id\"]} objects (the id "
                                        "defaults to the position), or a SQuAD-format file. Classifier/tagger: JSON "
                                        "Lines or a JSON list of {\"text\"[, \"text_pair\"][, \"id\"]} (or "
                                        "{\"words\": [...]}) objects, or a text file, one text a line.")
    output_file: str | None = knob(None, "Also write the answers here (a JSON list).")

    def __post_init__(self) -> None:
        pair = self.question is not None or self.context is not None
        single = self.text is not None or self.text_pair is not None
        if sum((pair, single, self.input_file is not None)) > 1:
            raise ConfigError("give one of: --question and --context, --text [--text_pair], or --input_file")
        if self.input_file is not None:
            if not self.input_file.strip():
                raise ConfigError("--input_file is empty")
        elif single:
            if self.text is None:
                raise ConfigError("--text_pair needs --text")
            for flag, value in (("--text", self.text), ("--text_pair", self.text_pair)):
                if value is not None and not value.strip():
                    raise ConfigError(f"{flag} is empty" + (" (only white space)" if value else ""))
        elif not pair:
            raise ConfigError("give one of: --question and --context, --text [--text_pair], or --input_file")
        else:
            for flag, value in (("--question", self.question), ("--context", self.context)):
                if value is None:
                    raise ConfigError(f"{flag} is missing: --question and --context go together")
                if not value.strip():
                    raise ConfigError(f"{flag} is empty" + (" (only white space)" if value else ""))
        missing_inputs(("--saved_model", self.saved_model, "dir"), ("--input_file", self.input_file, "file"))
        if "://" not in self.saved_model and not any(os.path.isfile(os.path.join(self.saved_model, name))
                                                     for name in ("saved_model.pb", "saved_model.pbtxt")):
            raise ConfigError(f"--saved_model={self.saved_model!r} is not a SavedModel directory (no saved_model.pb)")


def _load_items(path: str) -> list[dict]:
    """``[{"id", "question", "context"}]``, or ``{"id", "error"}`` for an entry that is not an object; a file that is
    neither a list nor SQuAD-shaped is a ``ValueError`` naming the file (and the article/paragraph)."""
    from electra.squad.data import iter_paragraphs, load_json

    data = load_json(path, "input file")
    items: list[dict] = []
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        for where, paragraph in iter_paragraphs(data, f"input file {path}"):
            for qa in paragraph["qas"]:
                items.append(_item(qa, len(items), paragraph.get("context"), where))
    elif isinstance(data, list):
        items = [_item(x, i, x.get("context") if isinstance(x, dict) else None) for i, x in enumerate(data)]
    else:
        raise ValueError(f"input file {path}: expected a list of {{question, context}} objects or a SQuAD file")
    if not items:
        raise ValueError(f"input file {path}: holds no questions")
    return items


def _item(entry, index: int, context, where: str = "") -> dict:
    place = f" ({where})" if where else ""
    if not isinstance(entry, dict):
        return {"id": str(index), "error": f"item {str(index)!r}{place}: expected an object with 'question' and "
                                           f"'context', got {type(entry).__name__}"}
    qid = entry.get("id", index)
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        return {"id": str(index), "error": f"item {str(index)!r}{place}: 'id' must be a string or an integer, got "
                                           f"{qid!r}"}
    return {"id": str(qid), "question": entry.get("question"), "context": context}


def _text_items(path: str) -> list[dict]:
    """``[{"id", "text", "text_pair"} or {"id", "words"}]`` of a classifier/tagger input file (JSON list, JSON Lines
    or plain text), or ``{"id", "error"}`` for an entry that is not usable."""
    with open(path, encoding="utf-8") as f:
        content = f.read()
    stripped = content.lstrip()
    entries: list = []
    if stripped.startswith("["):
        try:
            entries = json.loads(content)
        except json.JSONDecodeError as e:
            raise ValueError(f"input file {path}: malformed JSON (line {e.lineno}: {e.msg})") from None
    elif stripped.startswith("{"):
        for number, line in enumerate(content.splitlines(), 1):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"input file {path}:{number}: malformed JSON ({e.msg})") from None
    else:
        entries = [{"text": line} for line in content.splitlines() if line.strip()]
    if not entries:
        raise ValueError(f"input file {path}: holds no texts")
    items = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            items.append({"id": str(index), "error": f"item {index}: expected an object with 'text', got "
                                                     f"{type(entry).__name__}"})
            continue
        item = {"id": str(entry.get("id", index))}
        if "words" in entry:
            item["words"] = entry["words"]
        else:
            item["text"], item["text_pair"] = entry.get("text"), entry.get("text_pair")
        items.append(item)
    return items


def _item_error(item: dict, tagger: bool) -> str | None:
    if "error" in item:
        return item["error"]
    if "words" in item:
        words = item["words"]
        if not tagger:
            return f"item {item['id']!r}: 'words' is for a tagger export; give 'text'"
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            return f"item {item['id']!r}: 'words' must be a non-empty list of non-empty strings"
        return None
    for field in ("text", "text_pair"):
        value = item.get(field)
        if (field == "text" or value is not None) and (not isinstance(value, str) or not value.strip()):
            return f"item {item['id']!r}: {field!r} must be a non-empty string, got {value!r}"
    if tagger and item.get("text_pair") is not None:
        return f"item {item['id']!r}: a tagger takes no 'text_pair'"
    return None


def _predict_texts(config: PredictConfig, items: list[dict]) -> list[dict]:
    from electra.serving import TaggerPredictor, load_predictor
    predictor = load_predictor(config.saved_model)
    tagger = isinstance(predictor, TaggerPredictor)
    results: list[dict] = [{"id": item["id"], "error": _item_error(item, tagger)} for item in items]
    good = [i for i, r in enumerate(results) if r["error"] is None]
    if tagger:
        outputs = predictor.predict([items[i].get("words") or items[i]["text"] for i in good])
    else:
        outputs = predictor.predict([items[i]["text"] for i in good], [items[i].get("text_pair") for i in good])
    for i, output in zip(good, outputs):
        results[i] = {"id": items[i]["id"], **({} if tagger else {"text": items[i]["text"]}), **output}
    return results


def _run(config: PredictConfig) -> int:
    from electra.export import load_settings
    from electra.squad.inference import SavedModelPredictor

    task = load_settings(config.saved_model).get("task", "squad")
    if task != "squad":
        if config.question is not None:
            raise ConfigError(f"--saved_model={config.saved_model} is a {task} export: give --text (and "
                              f"--text_pair) or --input_file, not --question/--context")
        items = _text_items(config.input_file) if config.input_file else [
            {"id": "0", "text": config.text, "text_pair": config.text_pair}]
        return _report(config, _predict_texts(config, items))
    if config.text is not None:
        raise ConfigError(f"--saved_model={config.saved_model} is a SQuAD export: give --question and --context "
                          f"or --input_file, not --text")
    items = _load_items(config.input_file) if config.input_file else [
        {"id": "0", "question": config.question, "context": config.context}]
    predictor = SavedModelPredictor(config.saved_model)
    return _report(config, predictor.answer_items(items))


def _report(config: PredictConfig, answers: list[dict]) -> int:
    for answer in answers:
        print(json.dumps(answer, ensure_ascii=False))
    failed = [a for a in answers if "error" in a]
    for answer in failed[:10]:
        print(f"predict: {answer['error']}", file=sys.stderr)
    if failed:
        print(f"predict: {len(failed)} of {len(answers)} item(s) could not be answered"
              f"{' (first 10 shown)' if len(failed) > 10 else ''}", file=sys.stderr)
    if config.output_file:
        from electra.io import atomic_write
        with atomic_write(config.output_file) as f:
            json.dump(answers, f, indent=2, ensure_ascii=False)
    return 1 if failed else 0


COMMAND = Command("electra-predict", PredictConfig, _run, __doc__)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())
