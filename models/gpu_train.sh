#!/usr/bin/env bash
# Train or fine-tune an img2tex model on a machine with an NVIDIA GPU. Run from the repository root,
# with img2tex installed with its training extra and the CUDA build of torch (see README, "Set-up"):
#
#   bash models/gpu_train.sh TRAIN... [-- MORE_TRAIN_OPTIONS]
#
# TRAIN is one or more training data folders in any layout `img2tex train` reads (packed is the
# fastest; models/recipe.sh steps 1-2 make the default model's under ../work/mix*/*/packed).
# Everything after `--` goes to `img2tex train` as it is (e.g. `-- --seed 1 --no-export`).
# Settings, as environment variables (defaults in brackets):
#
#   RUN          the run folder: checkpoints (last/, best/), log.jsonl, loss.png [runs/gpu]
#   VAL          validation data; its BLEU-4 after each epoch picks best/ [none]
#   VAL_SIZE     validation images used each epoch [500]
#   INIT_FROM    fine-tune this model folder (e.g. models/default) with a fresh optimizer, instead
#                of training a new network [none]
#   PRESET       the network of a new run: cpu, base or paper [base, the default model's]
#   VOCAB        the token dictionary of a new run [built from TRAIN]
#   BATCH        images per step on each GPU [128]
#   LR           peak learning rate [1e-3 for a new run, 3e-4 for a fine-tune]
#   MINUTES      length of the learning-rate schedule, in minutes of training; the run ends when
#                they are spent [8]
#   JITTER       scale jitter (images shown resized and read back as predict reads them) [0.6]
#   WORKERS      processes that load images beside training [the CPU cores less two, at least 1]
#   GPUS         GPUs of this machine to train on; more than one runs under torchrun, and a step
#                then sees GPUS x BATCH images [1]
#   MAX_MINUTES  stop this invocation after so many minutes of training, with a checkpoint [none]
#   DEVICE       cuda, or cpu to try the script on a machine without a GPU [cuda]
#   PYTHON       the Python that has img2tex and torch [python3]
#
# Resumable: run the same command again. A RUN that holds a checkpoint (after Ctrl-C, SIGTERM,
# MAX_MINUTES or a crash) continues exactly where it stopped (`img2tex train --resume`): the network,
# schedule and batch are the checkpoint's; TRAIN, VAL, WORKERS, DEVICE, MAX_MINUTES and the options
# after `--` that --resume accepts apply. A new run starts only in a RUN without a checkpoint. The
# machine (GPU, driver, torch) is recorded in RUN/machine.txt at each start.
#
# Examples:
#   VAL=../work/val/packed bash models/gpu_train.sh ../work/mix*/*/packed            # base, 8 minutes
#   INIT_FROM=models/default MINUTES=7.5 RUN=runs/ft VAL=../work/val/packed \
#     bash models/gpu_train.sh ../work/mix*/*/packed                                 # fine-tune the default
#   GPUS=4 PRESET=paper MINUTES=60 bash models/gpu_train.sh data/train/packed        # four GPUs
set -euo pipefail
if [ $# -eq 0 ] || [ "$1" = -- ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  echo "error: name at least one training data folder" >&2
  exit 2
fi
TRAIN=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do TRAIN+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the `--`; what is left goes to img2tex train

RUN=${RUN:-runs/gpu} VAL=${VAL:-} VAL_SIZE=${VAL_SIZE:-500} INIT_FROM=${INIT_FROM:-} PRESET=${PRESET:-base}
VOCAB=${VOCAB:-} BATCH=${BATCH:-128} MINUTES=${MINUTES:-8} JITTER=${JITTER:-0.6} GPUS=${GPUS:-1}
MAX_MINUTES=${MAX_MINUTES:-} DEVICE=${DEVICE:-cuda} PYTHON=${PYTHON:-python3}
if [ -n "$INIT_FROM" ]; then LR=${LR:-3e-4}; else LR=${LR:-1e-3}; fi
cores=$(nproc 2> /dev/null || echo 3)
WORKERS=${WORKERS:-$((cores > 3 ? cores - 2 : 1))}

mkdir -p "$RUN"
{
  date -u '+%Y-%m-%d %H:%M UTC'
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PYTHON" -c 'import os, torch; print("torch", torch.__version__, "CPU cores", os.cpu_count())'
} > "$RUN/machine.txt" 2>&1 || true

args=("${TRAIN[@]}" -o "$RUN" --device "$DEVICE" --workers "$WORKERS")
[ -n "$VAL" ] && args+=(--val "$VAL")
[ -n "$MAX_MINUTES" ] && args+=(--max-minutes "$MAX_MINUTES")
if [ -e "$RUN/last" ] || [ -e "$RUN/last.new" ] || [ -e "$RUN/prev" ]; then
  echo "resuming $RUN" >&2
  args+=(--resume)
else
  args+=(--val-size "$VAL_SIZE")
  if [ -n "$INIT_FROM" ]; then
    args+=(--init-from "$INIT_FROM")
  else
    args+=(--preset "$PRESET")
    [ -n "$VOCAB" ] && args+=(--vocab "$VOCAB")
  fi
  # --epochs only bounds the run: the time budget's schedule ends it first.
  args+=(--batch-size "$BATCH" --lr "$LR" --time-budget "$MINUTES" --epochs 1000 --scale-jitter "$JITTER")
fi

if [ "$GPUS" -gt 1 ]; then
  exec "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" -m img2tex.cli train "${args[@]}" "$@"
fi
exec "$PYTHON" -m img2tex.cli train "${args[@]}" "$@"
