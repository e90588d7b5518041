# Sourced by the README commands: create .venv once and install the package (and extras) into it.
# Usage: source run_scripts/setup_env.sh [extras]   e.g. "dev"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ELECTRA_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip setuptools wheel
fi
spec="$ROOT"
[ -n "${1:-}" ] && spec="$ROOT[$1]"
"$VENV/bin/pip" install --quiet -e "$spec"
export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
