"""electra: pretrain ELECTRA from raw text with TensorFlow 2 and fine-tune it on SQuAD."""
__version__ = "0.1.0"
