"""Extract the discriminator (for fine-tuning) and the generator from a pretraining checkpoint.

  electra-extract --checkpoint=runs/tiny --output_dir=runs/tiny/extracted

``<output_dir>/discriminator`` is a model directory (``electra.interop.store``): give it to run_squad / export as is.
A checkpoint or configuration that cannot be read exits with status 2 and a message naming it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="a pretraining run directory (its latest checkpoint), its checkpoints/, a ckpt-N prefix, "
                             "or google:<google-research/electra checkpoint>")
    parser.add_argument("--output_dir", required=True, help="where discriminator/ and generator/ are written")
    parser.add_argument("--model_config_file", help="model config (default: the run's model_config.json)")
    parser.add_argument("--vocab_file", help="vocabulary to ship beside the discriminator (default: the run's)")
    args = parser.parse_args(argv)
    from electra.training.checkpointing import CheckpointReadError
    from electra.interop.extract import extract
    try:
        result = extract(args.checkpoint, args.output_dir, args.model_config_file, args.vocab_file)
    except (ValueError, OSError, CheckpointReadError) as e:
        print(f"electra-extract: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
