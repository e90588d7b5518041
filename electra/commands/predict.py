"""Answer questions with an exported SavedModel alone (vocabulary and settings come from its assets).

    electra-predict --saved_model out/squad/saved_model \\
        --question "Who built the lighthouse?" --context "The lighthouse was built by ..."
    electra-predict --saved_model out/squad/saved_model --input_file tests/fixtures/squad/tiny_squad.json

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
    question: str | None = knob(None, "One question (with --context).")
    context: str | None = knob(None, "The passage that answers --question.")
    input_file: str | None = knob(None, "JSON list of {\"question\", \"context\"[, \"id\"]} objects (the id "
                                        "defaults to the position), or a SQuAD-format file.")
    output_file: str | None = knob(None, "Also write the answers here (a JSON list).")

    def __post_init__(self) -> None:
        pair = self.question is not None or self.context is not None
        if self.input_file is not None:
            if pair:
                raise ConfigError("give either --question and --context, or --input_file, not both")
            if not self.input_file.strip():
                raise ConfigError("--input_file is empty")
        elif not pair:
            raise ConfigError("give either --question and --context, or --input_file")
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


def _run(config: PredictConfig) -> int:
    from electra.squad.inference import SavedModelPredictor

    items = _load_items(config.input_file) if config.input_file else [
        {"id": "0", "question": config.question, "context": config.context}]
    predictor = SavedModelPredictor(config.saved_model)
    answers = predictor.answer_items(items)
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
