"""Extract the discriminator (for fine-tuning) and the generator from a pretraining checkpoint.

  electra-extract --checkpoint=runs/tiny --output_dir=runs/tiny/extracted

``<output_dir>/discriminator`` is a model directory (``electra.modeling.store``): give it to run_squad / export as is.
"""
import json

from absl import app, flags

flags.DEFINE_string("checkpoint", None, "A pretraining run directory (its latest checkpoint), its checkpoints/, a "
                    "ckpt-N prefix, or google:<google-research/electra checkpoint>.", required=True)
flags.DEFINE_string("output_dir", None, "Where discriminator/ and generator/ are written.", required=True)
flags.DEFINE_string("model_config_file", None, "Model config (default: the run's model_config.json).")
flags.DEFINE_string("vocab_file", None, "Vocabulary to ship beside the discriminator (default: the run's).")


def main(argv):
    del argv
    from electra.training.extract import extract
    F = flags.FLAGS
    print(json.dumps(extract(F.checkpoint, F.output_dir, F.model_config_file, F.vocab_file), indent=2))


def run():
    """The console entry point: absl parses the flags, then calls ``main``."""
    app.run(main)


if __name__ == "__main__":
    run()
