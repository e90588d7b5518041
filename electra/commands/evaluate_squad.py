"""EM/F1 of a predictions file against a SQuAD v1.1 or v2.0 file (official definitions); prints JSON.

    electra-evaluate-squad tests/fixtures/squad/tiny_squad.json predictions.json
    electra-evaluate-squad dev-v2.0.json predictions.json --na_prob_file null_odds.json
"""
from __future__ import annotations

import dataclasses
import json

from electra.commands.entry import Command, UsageError, missing_inputs
from electra.configs import knob


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    dataset_file: str = knob("", "SQuAD JSON with the gold answers (dev-v1.1.json / dev-v2.0.json).", positional=True)
    prediction_file: str = knob("", "{qid: answer text} JSON (predictions.json of a run).", positional=True)
    na_prob_file: str | None = knob(None, "v2: null_odds.json ({qid: null score − best span score}).")
    na_prob_thresh: float = knob(1.0, "v2: questions whose na value exceeds this count as predicted unanswerable.",
                                 valid="finite")
    version: str | None = knob(None, "SQuAD version (default: from the dataset file).", choices=("1.1", "2.0"))
    out_file: str | None = knob(None, "Also write the JSON result here.")

    def __post_init__(self) -> None:
        missing_inputs(("dataset_file", self.dataset_file, "file"), ("prediction_file", self.prediction_file, "file"),
                       ("--na_prob_file", self.na_prob_file, "file"))


def _run(config: EvaluateConfig) -> dict:
    from electra.squad.metrics import evaluate_files
    try:
        result = evaluate_files(config.dataset_file, config.prediction_file, config.na_prob_file, config.version,
                                config.na_prob_thresh)
    except TypeError as e:     # a file of the wrong shape
        raise UsageError(str(e)) from None
    if config.out_file:
        from electra.io import write_text
        write_text(config.out_file, json.dumps(result, indent=2) + "\n")
    return result


COMMAND = Command("electra-evaluate-squad", EvaluateConfig, _run, __doc__, tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())
