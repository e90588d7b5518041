#!/usr/bin/env bash
# NVIDIA-style launcher with the two-phase recipe (8 GPUs: phase 1 seq 128, global batch ~67.6k, 10k steps at
# LR 6e-3; phase 2 seq 512, global batch ~27.6k, 933 steps at 4e-3; LAMB beta 0.878/0.974, poly power 0.5).
#
#   bash run_scripts/run_pretraining.sh PHASE MODEL_SIZE NUM_WORKERS PRECISION XLA DATA_DIR OUTPUT_DIR [extra flags]
#   bash run_scripts/run_pretraining.sh 1 base 8 fp16 true data/wiki runs/base
#   bash run_scripts/run_pretraining.sh 2 base 8 fp16 true data/wiki runs/base
#
# DATA_DIR holds vocab.txt and seq128/{train,validation}/*.tfrecord, seq512/{train,validation}/*.tfrecord.
# Phase 2 starts from phase 1's latest checkpoint (OUTPUT_DIR/phase1): weights kept, optimizer and schedule reset.
# Per-worker batch and accumulation can be overridden with BATCH=… ACCUMULATION=… in the environment.
# Several nodes: HOSTS=node1:8,node2:8 (horovodrun's -H; or HOSTFILE=path), NUM_WORKERS = all processes (16 here);
# the output directory must be on a file system every node sees. SLURM: sbatch run_scripts/run.sub.
set -euo pipefail
phase=${1:?phase (1 or 2)}; size=${2:-base}; workers=${3:-8}; precision=${4:-fp16}; xla=${5:-true}
data=${6:?data dir}; output=${7:?output dir}; shift $(( $# < 7 ? $# : 7 ))
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ "$phase" = 1 ]; then
  seq=128; batch=${BATCH:-176}; accumulation=${ACCUMULATION:-$((384 / workers))}; lr=6e-3; warmup=2000; steps=10000
  init=()
elif [ "$phase" = 2 ]; then
  seq=512; batch=${BATCH:-24}; accumulation=${ACCUMULATION:-$((1152 / workers))}; lr=4e-3; warmup=200; steps=933
  init=(--init_checkpoint="$output/phase1")
else
  echo "phase must be 1 or 2, got $phase" >&2; exit 2
fi

args=(--model_size="$size" --precision="$precision" --xla="$xla" --optimizer=lamb --beta_1=0.878 --beta_2=0.974
      --poly_power=0.5 --learning_rate="$lr" --warmup_steps="$warmup" --total_steps="$steps"
      --max_seq_length="$seq" --train_batch_size="$batch" --gradient_accumulation_steps="$accumulation"
      --vocab_file="$data/vocab.txt" --train_files="$data/seq$seq/train/*.tfrecord"
      --validation_files="$data/seq$seq/validation/*.tfrecord" --validation_freq=500
      --save_checkpoints_steps=500 --log_freq=10 --output_dir="$output/phase$phase" "${init[@]}" "$@")

python=${PYTHON:-python}
if [ "$workers" -gt 1 ]; then
  launch=(horovodrun -np "$workers")
  if [ "${LAUNCHER:-horovodrun}" = srun ]; then launch=(srun --ntasks="$workers" --mpi="${SRUN_MPI:-pmix}")
  elif [ -n "${HOSTS:-}" ]; then launch+=(-H "$HOSTS"); elif [ -n "${HOSTFILE:-}" ]; then launch+=(-hostfile "$HOSTFILE"); fi
  exec "${launch[@]}" "$python" "$here/run_pretraining.py" "${args[@]}"
else
  exec "$python" "$here/run_pretraining.py" "${args[@]}"
fi
