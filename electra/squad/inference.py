"""Answer questions from an exported SavedModel alone (vocabulary and settings are read from its assets)."""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from electra.export import load_settings
from electra.squad.data import SquadExample, convert_examples_to_features
from electra.squad.postprocess import postprocess
from electra.tokenization import load_tokenizer


class SavedModelPredictor:
    def __init__(self, export_dir: str):
        if not os.path.isdir(export_dir):
            raise FileNotFoundError(f"SavedModel directory not found: {export_dir}")
        self.settings = load_settings(export_dir)
        self.tokenizer = load_tokenizer(os.path.join(export_dir, "assets", self.settings["vocab_file"]),
                                        lower_case=self.settings["do_lower_case"])
        self.loaded = tf.saved_model.load(export_dir)
        self.serve = self.loaded.signatures["serving_default"]

    def logits(self, inputs: dict, batch_size: int = 64) -> dict[str, np.ndarray]:
        n = len(inputs["input_ids"])
        out: dict[str, list] = {"start_logits": [], "end_logits": []}
        for i in range(0, n, batch_size):
            result = self.serve(**{k: tf.constant(np.asarray(inputs[k][i:i + batch_size], np.int32))
                                   for k in ("input_ids", "input_mask", "segment_ids")})
            for k in out:
                out[k].append(result[k].numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

    def predict_examples(self, examples, batch_size: int = 64):
        s = self.settings
        features = convert_examples_to_features(examples, self.tokenizer, s["max_seq_length"], s["doc_stride"],
                                                s["max_query_length"], is_training=False)
        logits = self.logits(features.model_inputs(), batch_size)
        return postprocess(features, logits["start_logits"], logits["end_logits"], n_best_size=s["n_best_size"],
                           max_answer_length=s["max_answer_length"],
                           version_2_with_negative=s["version_2_with_negative"],
                           null_score_diff_threshold=s["null_score_diff_threshold"])

    def answer(self, question: str, context: str) -> dict:
        """``{"text", "score", "start_char", "end_char"}``; ``text`` is ``context[start_char:end_char]`` (empty with
        -1/-1 when a v2 model judges the question unanswerable)."""
        predictions, nbest, null_odds = self.predict_examples([SquadExample("0", question, context)])
        text = predictions["0"]
        best = next((e for e in nbest["0"] if e["text"] == text), nbest["0"][0])
        result = {"text": text, "score": best["start_logit"] + best["end_logit"],
                  "start_char": best["start_char"] if text else -1, "end_char": best["end_char"] if text else -1}
        if "0" in null_odds:
            result["null_score_diff"] = null_odds["0"]
        return result
