"""Answer questions with an exported SavedModel alone (vocabulary and settings come from its assets).

    python run_scripts/predict.py --saved_model out/squad/saved_model \
        --question "Who built the lighthouse?" --context "The lighthouse was built by ..."
    python run_scripts/predict.py --saved_model out/squad/saved_model --input_file questions.json

``--input_file``: a JSON list of ``{"question", "context"[, "id"]}`` objects, or a SQuAD-format file. Prints one
JSON object a line: ``id``, ``question``, ``answer`` (= ``context[start_char:end_char]``), ``score``,
``start_char``, ``end_char`` (``-1`` when a v2 model finds no answer).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _load_pairs(path: str) -> list[dict]:
    from electra.squad.data import load_json

    data = load_json(path, "input file")
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        items = []
        for article in data["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    items.append({"id": qa["id"], "question": qa["question"], "context": paragraph["context"]})
        return items
    if isinstance(data, list) and all(isinstance(x, dict) and "question" in x and "context" in x for x in data):
        return [{"id": str(x.get("id", i)), "question": x["question"], "context": x["context"]}
                for i, x in enumerate(data)]
    raise ValueError(f"input file {path}: expected a list of {{question, context}} objects or a SQuAD file")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saved_model", required=True)
    parser.add_argument("--question")
    parser.add_argument("--context")
    parser.add_argument("--input_file")
    parser.add_argument("--output_file", help="also write the answers here (JSON list)")
    args = parser.parse_args(argv)
    if bool(args.input_file) == bool(args.question or args.context):
        parser.error("give either --question and --context, or --input_file")
    if not args.input_file and not (args.question and args.context):
        parser.error("--question and --context go together")
    from electra.squad.data import SquadExample
    from electra.squad.inference import SavedModelPredictor

    try:
        items = _load_pairs(args.input_file) if args.input_file else [
            {"id": "0", "question": args.question, "context": args.context}]
        predictor = SavedModelPredictor(args.saved_model)
    except (ValueError, OSError) as e:
        print(f"predict: {e}", file=sys.stderr)
        return 2
    examples = [SquadExample(str(x["id"]), x["question"], x["context"]) for x in items]
    predictions, nbest, null_odds = predictor.predict_examples(examples)
    answers = []
    for item in items:
        qid = str(item["id"])
        text = predictions[qid]
        best = next((e for e in nbest[qid] if e["text"] == text), nbest[qid][0])
        answers.append({"id": qid, "question": item["question"], "answer": text,
                        "score": best["start_logit"] + best["end_logit"],
                        "start_char": best["start_char"] if text else -1, "end_char": best["end_char"] if text else -1,
                        **({"null_score_diff": null_odds[qid]} if qid in null_odds else {})})
        print(json.dumps(answers[-1], ensure_ascii=False))
    if args.output_file:
        with open(args.output_file, "w", encoding="utf-8") as f:
            json.dump(answers, f, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
