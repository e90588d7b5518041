#!/usr/bin/env bash
# The package as users install it: build the wheel, install it (no -e) into a fresh venv, and from a folder outside
# the checkout import every module, run each console command's --help, `pip check`, then prepare a little data,
# pretrain two steps and extract the discriminator with the installed commands alone. CI runs it after the suite
# (.ci/run).
# Usage: bash run_scripts/check_wheel.sh [python]     (default: python3; CI passes python3.13 where it exists)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
PY="${1:-python3}"
source run_scripts/setup_env.sh dev      # the build tools; the wheel itself goes into a venv of its own
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; exit 1; }
WHEEL="$(ls "$WORK"/dist/electra-*.whl)"
echo "check_wheel: built $(basename "$WHEEL")"
# Every module and the Horovod patch of the checkout are in the wheel, and no benchmark, peer or reference code.
python - "$WHEEL" <<'PY'
import re, subprocess, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
apart = sorted(n for n in names
               if re.search(r"(^|/)(benchmarks?[^/]*|bench_corpus|bert_reference|flops|peer)(/|\.py$)", n))
if apart:
    sys.exit(f"check_wheel: the wheel holds benchmark/peer/reference code, which lives in benchmarks/: {apart}")
tracked = subprocess.run(["git", "ls-files", "electra", "data_prep"], capture_output=True, text=True,
                         check=True).stdout.split()
wanted = [p for p in tracked if p.endswith((".py", ".patch"))]
missing = [p for p in wanted if p not in names]
if missing or not wanted:
    sys.exit(f"check_wheel: the wheel lacks {missing or 'every module'}")
print(f"check_wheel: the wheel holds all {len(wanted)} modules and data files of electra/ and data_prep/")
PY

"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --upgrade pip > "$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log"; exit 1; }
"$WORK/venv/bin/pip" install --quiet "electra[dev] @ file://$WHEEL" > "$WORK/pip.log" 2>&1 \
  || { cat "$WORK/pip.log"; exit 1; }
"$WORK/venv/bin/pip" check
mkdir "$WORK/elsewhere"
cd "$WORK/elsewhere"
export TF_CPP_MIN_LOG_LEVEL=3 PATH="$WORK/venv/bin:$PATH"
python - <<'PY'
import importlib, pkgutil, sys
import electra, data_prep
for package in (electra, data_prep):
    if not package.__file__.startswith(sys.prefix):
        sys.exit(f"check_wheel: {package.__name__} was imported from {package.__file__}, not the installed wheel")
names = [m.name for p in (electra, data_prep) for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(f"check_wheel: imported all {len(names)} modules on Python {sys.version.split()[0]} from {sys.prefix}")
PY
commands=$(python -c "import importlib.metadata as m; print(' '.join(sorted(e.name for e in m.entry_points(group='console_scripts') if e.name.startswith('electra-'))))")
[ "$(wc -w <<< "$commands")" -ge 8 ] || { echo "check_wheel: console commands missing: $commands"; exit 1; }
for command in $commands; do
  out="$("$command" --help 2>&1)" || { echo "$out"; echo "check_wheel: $command --help failed"; exit 1; }
  [ -n "$out" ] || { echo "check_wheel: $command --help printed nothing"; exit 1; }
done
echo "check_wheel: --help of $commands"
electra-prepare-data --source=pydoc --output_dir=data --max_bytes=300000 --vocab_size=1024 > prepare.json
electra-pretrain --output_dir=run --model.size=tiny --trainer.total_steps=2 --optimizer.warmup_steps=1 \
  --data.train_batch_size=8 --data.train_files='data/seq128/train-*.tfrecord' --data.vocab_file=data/vocab/vocab.txt \
  > pretrain.json 2> pretrain.log \
  || { tail -n 30 pretrain.log; exit 1; }
electra-extract --checkpoint=run --output_dir=extracted > extract.json
python - <<'PY'
import json, os
summary = json.loads(open("pretrain.json").read().strip().splitlines()[-1])   # the progress lines come first
assert summary["step"] == 2, summary
assert os.path.exists("extracted/discriminator/model.safetensors"), open("extract.json").read()
print("check_wheel: electra-prepare-data, electra-pretrain (2 steps), electra-extract from the wheel:",
      json.dumps(summary)[:160])
PY
