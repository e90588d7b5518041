"""Weights in and out: Hugging Face safetensors (ELECTRA, BERT) and Google's TF1 ELECTRA checkpoints."""
from electra.interop.google import load_google_checkpoint
from electra.interop.hf import (config_from_hf, load_hf_bert, load_hf_electra, load_hf_pretraining,
                                read_safetensors, save_hf_electra)
from electra.interop.weights import LoadReport, WeightLoadError

__all__ = ["LoadReport", "WeightLoadError", "config_from_hf", "load_google_checkpoint", "load_hf_bert",
           "load_hf_electra", "load_hf_pretraining", "read_safetensors", "save_hf_electra"]
