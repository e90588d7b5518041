"""SavedModel export of a SQuAD model with the serving signature (the OpenVINO BERT-SQuAD contract).

``serving_default``: inputs ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[batch, max_seq_length]``
(384 by default; batch dynamic) → outputs ``start_logits``, ``end_logits`` float32 ``[batch, max_seq_length]``.
The vocabulary travels as an asset and the pre/post-processing settings as ``assets/squad_settings.json``, so
``electra.squad.inference.SavedModelPredictor`` (and ``run_scripts/predict.py``) answer from the SavedModel alone.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import tensorflow as tf

SETTINGS_NAME = "squad_settings.json"
DEFAULT_SETTINGS = {"max_seq_length": 384, "doc_stride": 128, "max_query_length": 64, "do_lower_case": True,
                    "n_best_size": 20, "max_answer_length": 30, "version_2_with_negative": False,
                    "null_score_diff_threshold": 0.0}


class _ServingModule(tf.Module):
    def __init__(self, model, vocab_path: str, settings_path: str, max_seq_length: int):
        super().__init__(name="electra_squad")
        self.model = model
        self.vocab_file = tf.saved_model.Asset(vocab_path)
        self.settings_file = tf.saved_model.Asset(settings_path)
        spec = tf.TensorSpec([None, max_seq_length], tf.int32)

        @tf.function(input_signature=[spec, spec, spec])
        def serve(input_ids, input_mask, segment_ids):
            out = self.model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
                             training=False)
            return {"start_logits": tf.cast(out["start_logits"], tf.float32, name="start_logits"),
                    "end_logits": tf.cast(out["end_logits"], tf.float32, name="end_logits")}

        self.serve = serve


def export_saved_model(model, export_dir: str, vocab_file: str, **settings) -> str:
    """Write the SavedModel to ``export_dir`` (replaced atomically if it exists); ``settings`` override
    ``DEFAULT_SETTINGS`` (unknown keys are an error). Returns ``export_dir``."""
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown export setting(s): {sorted(unknown)}")
    if not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"vocabulary file not found: {vocab_file}")
    values = {**DEFAULT_SETTINGS, **settings}
    positions = model.config.max_position_embeddings
    if values["max_seq_length"] > positions:
        raise ValueError(f"max_seq_length={values['max_seq_length']} exceeds the model's "
                         f"max_position_embeddings={positions}")
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        files = os.path.join(staging, "_files")
        os.makedirs(files)
        vocab_copy = os.path.join(files, os.path.basename(vocab_file))
        shutil.copyfile(vocab_file, vocab_copy)
        settings_path = os.path.join(files, SETTINGS_NAME)
        with open(settings_path, "w", encoding="utf-8") as f:
            json.dump({**values, "vocab_file": os.path.basename(vocab_file),
                       "model_config": model.config.to_dict()}, f, indent=2)
        module = _ServingModule(model, vocab_copy, settings_path, int(values["max_seq_length"]))
        target = os.path.join(staging, "saved_model")
        tf.saved_model.save(module, target, signatures={"serving_default": module.serve})
        old = None
        if os.path.exists(export_dir):
            old = export_dir + f".old.{os.getpid()}"
            os.replace(export_dir, old)
        os.replace(target, export_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def load_settings(export_dir: str) -> dict:
    with open(os.path.join(export_dir, "assets", SETTINGS_NAME), encoding="utf-8") as f:
        return json.load(f)
