"""EM/F1 of a predictions file against a SQuAD v1.1 or v2.0 file (official definitions); prints JSON.

    electra-evaluate-squad dev-v2.0.json predictions.json --na_prob_file null_odds.json
"""
from __future__ import annotations

import argparse
import json
import sys

from electra.squad.metrics import evaluate_files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset_file")
    parser.add_argument("prediction_file")
    parser.add_argument("--na_prob_file", help="v2: null_odds.json ({qid: null score − best span score})")
    parser.add_argument("--na_prob_thresh", type=float, default=1.0,
                        help="v2: questions whose na value exceeds this count as predicted unanswerable")
    parser.add_argument("--version", choices=("1.1", "2.0"), help="default: from the dataset file")
    parser.add_argument("--out_file", help="also write the JSON result here")
    args = parser.parse_args(argv)
    try:
        result = evaluate_files(args.dataset_file, args.prediction_file, args.na_prob_file, args.version,
                                args.na_prob_thresh)
    except (ValueError, KeyError, TypeError) as e:
        print(f"evaluate_squad: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if args.out_file:
        with open(args.out_file, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
