"""Input data: dynamic masking for pretraining (the TFRecord reader and SQuAD features build on it)."""
from electra.data.masking import MaskingConfig, mask_tokens

__all__ = ["MaskingConfig", "mask_tokens"]
