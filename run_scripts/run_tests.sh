#!/usr/bin/env bash
# README command 2: install into .venv (dev + horovod extras) and run the whole test suite, every tier.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source run_scripts/setup_env.sh dev
if ! python -c "import horovod.tensorflow" >/dev/null 2>&1; then
  echo "Building Horovod 0.28.1 (CPU/Gloo) for the distributed tests: ~6 minutes once, then pip's wheel cache."
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 \
  HOROVOD_WITHOUT_MXNET=1 CMAKE_POLICY_VERSION_MINIMUM=3.5 \
    quiet_pip install --no-build-isolation -e ".[horovod]"
fi
ELECTRA_REQUIRE_HOROVOD=1 python -m pytest tests "$@"
