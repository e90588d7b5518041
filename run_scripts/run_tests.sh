#!/usr/bin/env bash
# README command 2: install into .venv (with the dev extra) and run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source run_scripts/setup_env.sh dev
python -m pytest tests "$@"
