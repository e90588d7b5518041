#!/usr/bin/env bash
# README command 1: install into .venv and run the main job end to end on the embedded default.
# Arguments go to run_scripts/quickstart.py (e.g. --output_dir=..., --pretrain_steps=...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source run_scripts/setup_env.sh ""   # no extras; "" keeps this script's arguments away from setup_env.sh
python run_scripts/quickstart.py "$@"
