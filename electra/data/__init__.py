"""Input data: TFRecord framing (``tfrecord``, no TensorFlow), dynamic masking for pretraining, the pretraining
reader. ``MaskingConfig`` and ``mask_tokens`` load TensorFlow when first used, so ``data_prep``'s workers can import
``electra.data.tfrecord`` without it."""

__all__ = ["MaskingConfig", "mask_tokens"]


def __getattr__(name: str):
    if name in __all__:
        from electra.data import masking
        return getattr(masking, name)
    raise AttributeError(f"module 'electra.data' has no attribute {name!r}")
