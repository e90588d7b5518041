#!/usr/bin/env bash
# NVIDIA-style launcher over the two-phase recipes in recipes/pretrain_phase{1,2}.json (phase 1: seq 128, global
# batch 67584, 10k steps at LR 6e-3; phase 2: seq 512, global batch 27648, 933 steps at 4e-3; LAMB 0.878/0.974, poly
# power 0.5). The recipes fix the global batch; the accumulation follows from the number of workers.
#
#   bash run_scripts/run_pretraining.sh PHASE MODEL_SIZE NUM_WORKERS PRECISION XLA DATA_DIR OUTPUT_DIR [extra flags]
#   bash run_scripts/run_pretraining.sh 1 base 8 fp16 true data/wiki runs/base
#   bash run_scripts/run_pretraining.sh 2 base 8 fp16 true data/wiki runs/base
#
# DATA_DIR holds vocab.txt and seq128/{train,validation}/*.tfrecord, seq512/{train,validation}/*.tfrecord.
# Phase 2 starts from phase 1's run (OUTPUT_DIR/phase1): weights kept, optimizer and schedule reset.
# BATCH=… sets the per-worker batch (the accumulation is re-derived); ACCUMULATION=… fixes the accumulation instead
# of the recipe's global batch. Extra flags (any --section.field of run_pretraining.py) override the recipe.
# Several nodes: HOSTS=node1:8,node2:8 (horovodrun's -H; or HOSTFILE=path), NUM_WORKERS = all processes (16 here);
# the output directory must be on a file system every node sees. SLURM: sbatch run_scripts/run.sub.
set -euo pipefail
phase=${1:?phase (1 or 2)}; size=${2:-base}; workers=${3:-8}; precision=${4:-fp16}; xla=${5:-true}
data=${6:?data dir}; output=${7:?output dir}; shift $(( $# < 7 ? $# : 7 ))
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
recipes="$(dirname "$here")/recipes"

case "$phase" in
  1) seq=128; init=() ;;
  2) seq=512; init=(--init="$output/phase1") ;;
  *) echo "phase must be 1 or 2, got $phase" >&2; exit 2 ;;
esac
batch=()
if [ -n "${BATCH:-}" ]; then batch+=(--data.train_batch_size="$BATCH"); fi
if [ -n "${ACCUMULATION:-}" ]; then batch+=(--trainer.gradient_accumulation_steps="$ACCUMULATION" --trainer.global_batch_size=none); fi

args=(--config="$recipes/pretrain_phase$phase.json" --model.size="$size" --trainer.precision="$precision"
      --trainer.xla="$xla" --data.vocab_file="$data/vocab.txt" --data.train_files="$data/seq$seq/train/*.tfrecord"
      --data.validation_files="$data/seq$seq/validation/*.tfrecord" --output_dir="$output/phase$phase"
      "${init[@]}" "${batch[@]}" "$@")

python=${PYTHON:-python}
if [ "$workers" -gt 1 ]; then
  launch=(horovodrun -np "$workers")
  if [ "${LAUNCHER:-horovodrun}" = srun ]; then launch=(srun --ntasks="$workers" --mpi="${SRUN_MPI:-pmix}")
  elif [ -n "${HOSTS:-}" ]; then launch+=(-H "$HOSTS"); elif [ -n "${HOSTFILE:-}" ]; then launch+=(-hostfile "$HOSTFILE"); fi
  exec "${launch[@]}" "$python" "$here/run_pretraining.py" "${args[@]}"
else
  exec "$python" "$here/run_pretraining.py" "${args[@]}"
fi
