"""SQuAD v1.1/v2.0: examples and features, fine-tuning, post-processing, EM/F1, SavedModel inference.

Quick use::

    from electra.squad import (FineTuneConfig, evaluate, fine_tune, load_features, postprocess, predict_logits,
                               write_predictions)
    train = load_features("train.json", tokenizer, is_training=True, version_2_with_negative=True)
    fine_tune(model, train, FineTuneConfig(learning_rate=1e-4, num_train_epochs=2, train_batch_size=32))
    dev = load_features("dev.json", tokenizer, is_training=False, version_2_with_negative=True)
    logits = predict_logits(model, dev)
    predictions, nbest, null_odds = postprocess(dev, logits["start_logits"], logits["end_logits"],
                                                version_2_with_negative=True)
    evaluate(dataset["data"], predictions, "2.0", null_odds)

The whole job (flags of ``run_scripts/run_squad.py``) is ``electra.squad.runner.run(SquadRunConfig(...))``;
answering from an exported SavedModel is ``electra.squad.inference.SavedModelPredictor``.
"""
from electra.squad.data import (FeatureStats, Features, SquadExample, SquadFormatError, convert_examples_to_features,
                                load_features, read_examples)
from electra.squad.metrics import evaluate, evaluate_files, exact_match, f1_score, normalize_answer
from electra.squad.optimization import LayerwiseAdamW, layerwise_lr_factors, make_finetuning_optimizer
from electra.squad.postprocess import postprocess, write_predictions
from electra.squad.task import FineTuneConfig, SquadTrainer, fine_tune, predict_logits, span_loss

__all__ = ["FeatureStats", "Features", "FineTuneConfig", "LayerwiseAdamW", "SquadExample", "SquadFormatError",
           "SquadTrainer", "convert_examples_to_features", "evaluate", "evaluate_files", "exact_match", "f1_score",
           "fine_tune", "layerwise_lr_factors", "load_features", "make_finetuning_optimizer", "normalize_answer",
           "postprocess", "predict_logits", "read_examples", "span_loss", "write_predictions"]
