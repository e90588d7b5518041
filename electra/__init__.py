"""electra: pretrain ELECTRA from raw text with TensorFlow 2 and fine-tune it on SQuAD.

Importing the package before TensorFlow turns TensorFlow's oneDNN CPU kernels on (``TF_ENABLE_ONEDNN_OPTS=1``).
TensorFlow enables them by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; on AVX2 CPUs turning them on speeds
up inference and fine-tuning (benchmarks/README.md, "oneDNN"). An explicit ``TF_ENABLE_ONEDNN_OPTS=0`` is kept. The
variable is read once, when TensorFlow loads, so every entry script imports ``electra`` before ``tensorflow`` or
``keras``; GPU kernels are unaffected.
"""
import os as _os

_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.2.0"
