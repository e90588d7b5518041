#!/usr/bin/env bash
# README command 2: install into .venv (dev extra + the project's Horovod build) and run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source run_scripts/setup_env.sh dev,horovod   # Horovod: built once from the patched sdist (minutes), then cached
ELECTRA_REQUIRE_HOROVOD=1 python -m pytest tests "$@"
