#!/usr/bin/env bash
# README command 1: install into .venv and run the main job end to end on the embedded default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source run_scripts/setup_env.sh
python run_scripts/quickstart.py "$@"
