#!/usr/bin/env bash
# NVIDIA-style SQuAD launcher over recipes/squad_v{1.1,2.0}_${RECIPE}.json (RECIPE=nvidia by default, or google):
# fine-tune, predict, evaluate, export.
#
#   bash run_scripts/run_squad.sh INIT EPOCHS BATCH_PER_WORKER LR PRECISION NUM_WORKERS SEED VERSION MODE \
#        [extra run_squad.py flags]
#   bash run_scripts/run_squad.sh out/extracted/discriminator 2 32 1e-4 fp16 8 42 1.1 train_eval
#   bash run_scripts/run_squad.sh hf:models/electra-base-discriminator 2 32 1e-4 bf16 1 42 2.0 train_eval
#
# INIT: a model directory (extracted discriminator, fine-tuned run's model/), a pretraining run or checkpoint,
# google:<TF1 checkpoint>, hf:<dir>, or "none" (random init, or MODE=eval/prediction from OUTPUT_DIR's own model).
# PRECISION fp32|fp16|bf16; VERSION 1.1|2.0; MODE train|eval|prediction|train_eval.
# Environment (defaults): SQUAD_DIR=data/squad (train-vX.json, dev-vX.json), VOCAB (default: the INIT source's),
# MODEL_SIZE=base (or MODEL_CONFIG=path/model_config.json) when INIT carries no config, XLA=true,
# OUTPUT_DIR=results/squad_vX_<timestamp>. BATCH_PER_WORKER and LR replace the recipe's (its global batch stays:
# the accumulation follows). Extra flags (any --section.field of run_squad.py) override the recipe.
# NUM_WORKERS > 1 runs under horovodrun (one process per GPU); otherwise plain python. Several nodes:
# HOSTS=node1:8,node2:8 (horovodrun's -H; or HOSTFILE=path) with NUM_WORKERS = all processes, OUTPUT_DIR on a file
# system every node sees. SLURM: sbatch run_scripts/run.sub squad ...
set -euo pipefail
init=${1:-none}; epochs=${2:-2}; batch=${3:-32}; lr=${4:-1e-4}; precision=${5:-fp32}; workers=${6:-1}
seed=${7:-42}; version=${8:-1.1}; mode=${9:-train_eval}; shift $(( $# < 9 ? $# : 9 ))
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
recipes="$(dirname "$here")/recipes"
python=${PYTHON:-python}

case "$version" in 1.1|2.0) ;; *) echo "SQuAD version must be 1.1 or 2.0, got $version" >&2; exit 2 ;; esac
case "$precision" in fp32|fp16|bf16) ;; *) echo "precision must be fp32, fp16 or bf16, got $precision" >&2; exit 2 ;; esac
case "$mode" in train|eval|prediction|train_eval) ;; *) echo "mode must be train, eval, prediction or train_eval" >&2; exit 2 ;; esac

squad_dir=${SQUAD_DIR:-data/squad}
output=${OUTPUT_DIR:-results/squad_v${version}_$(date +%Y%m%d_%H%M%S)}
args=(--config="$recipes/squad_v${version}_${RECIPE:-nvidia}.json" --mode="$mode" --data.train_file="$squad_dir/train-v$version.json"
      --data.predict_file="$squad_dir/dev-v$version.json" --trainer.epochs="$epochs" --data.train_batch_size="$batch"
      --optimizer.learning_rate="$lr" --trainer.precision="$precision" --trainer.seed="$seed"
      --trainer.xla="${XLA:-true}" --output_dir="$output" --export_dir="$output/saved_model")
if [ -n "${VOCAB:-}" ]; then args+=(--data.vocab_file="$VOCAB"); fi
if [ -n "${MODEL_CONFIG:-}" ]; then args+=(--model.config_file="$MODEL_CONFIG"); else args+=(--model.size="${MODEL_SIZE:-base}"); fi
if [ "$init" != none ]; then args+=(--init="$init"); fi
mkdir -p "$output"
echo "run_squad: $workers worker(s), output in $output" >&2
if [ "$workers" -gt 1 ]; then
  launch=(horovodrun -np "$workers")
  if [ "${LAUNCHER:-horovodrun}" = srun ]; then launch=(srun --ntasks="$workers" --mpi="${SRUN_MPI:-pmix}")
  elif [ -n "${HOSTS:-}" ]; then launch+=(-H "$HOSTS"); elif [ -n "${HOSTFILE:-}" ]; then launch+=(-hostfile "$HOSTFILE"); fi
  "${launch[@]}" "$python" "$here/run_squad.py" "${args[@]}" "$@" 2>&1 \
    | tee -a "$output/log.txt"
else
  "$python" "$here/run_squad.py" "${args[@]}" "$@" 2>&1 | tee -a "$output/log.txt"
fi
exit "${PIPESTATUS[0]}"
