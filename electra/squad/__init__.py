"""SQuAD v1.1/v2.0 data, decoding and scoring: examples and features, post-processing, EM/F1, SavedModel inference.

Quick use::

    from electra.squad import decode, evaluate, load_features, predict_logits
    dev = load_features("dev.json", tokenizer, is_training=False, version_2_with_negative=True)
    logits = predict_logits(model, dev)
    predictions, nbest, null_odds = decode(dev, logits, version_2_with_negative=True)   # span head or beam
    evaluate(dataset["data"], predictions, "2.0", null_odds)

Fine-tuning is the task ``electra.tasks.squad.SquadTask`` run by the experiment loop; the whole job (flags of
``run_scripts/run_squad.py``) is ``electra.tasks.squad.run(SquadConfig(...))``. Answering from an exported
SavedModel is ``electra.squad.inference.SavedModelPredictor``.
"""
from electra.squad.data import (FeatureStats, Features, SquadExample, SquadFormatError, convert_examples_to_features,
                                load_features, read_examples)
from electra.squad.inference import predict_logits
from electra.squad.metrics import evaluate, evaluate_files, exact_match, f1_score, normalize_answer
from electra.squad.beam import beam_postprocess
from electra.squad.postprocess import decode, postprocess, write_predictions

__all__ = ["FeatureStats", "Features", "SquadExample", "SquadFormatError", "beam_postprocess",
           "convert_examples_to_features", "decode", "evaluate", "evaluate_files", "exact_match", "f1_score",
           "load_features", "normalize_answer", "postprocess", "predict_logits", "read_examples",
           "write_predictions"]
