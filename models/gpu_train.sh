#!/usr/bin/env bash
# One part of the GPU training of the default model, run on a lent GPU machine (the `device` tool
# of DEVELOPERS.md) in the repository root, with the machine's own PyTorch and img2tex from this
# checkout. Carried: gpu_data/ (the packed training mix, validation split, vocabulary and the
# robustness renders, made by models/recipe.sh) and .whl/ (wheels the machine lacks: editdistance).
#
# The presets in $PRESETS train side by side on the one GPU, each for $MINUTES minutes of
# training in this part, on a learning-rate schedule over $BUDGET minutes in all. A later part on
# the same (still warm) machine resumes them from $RUNS, which lies outside the repository: the
# device tool re-syncs the working tree on each call and removes what it does not know (a run
# folder in the checkout vanished that way). With EVAL=1 it then scores each best/ on the
# robustness benchmark. What comes back is written to $OUT (at most 8 files of 16 MB).
set -uo pipefail
MINUTES=${MINUTES:-7} BUDGET=${BUDGET:-13} PRESETS=${PRESETS:-base paper} EVAL=${EVAL:-0} DEVICE=${DEVICE:-cuda}
OUT=${OUT:-gpu_out} RUNS=${RUNS:-/tmp/img2tex_gpu_runs}
mkdir -p "$OUT" "$RUNS"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/machine.txt" 2>&1
python3 -c 'import torch, os; print("torch", torch.__version__, "cores", os.cpu_count())' >> "$OUT/machine.txt" 2>&1
mapfile -t TRAIN_DATA < <(ls -d gpu_data/mix/*/packed)
for p in $PRESETS; do
  args=(python3 -m img2tex.cli train "${TRAIN_DATA[@]}" --val gpu_data/val/packed -o "$RUNS/$p"
        --max-minutes "$MINUTES" --workers "${WORKERS:-7}" --device "$DEVICE")
  if [ -e "$RUNS/$p/last/train_state.json" ]; then
    args+=(--resume)
  else
    args+=(--vocab gpu_data/vocab.json --preset "$p" --batch-size 64 --time-budget "$BUDGET" --scale-jitter 0.6
           --val-size 500 --checkpoint-every 500 --no-export)
  fi
  "${args[@]}" >> "$RUNS/$p.log" 2>&1 &
done
wait
for p in $PRESETS; do
  tail -c 3000 "$RUNS/$p.log"
  tar czf "$OUT/$p.tgz" -C "$RUNS" "$p.log" "$p/log.jsonl" "$p/config.json" "$p/best" 2>/dev/null
  if [ "$(stat -c %s "$OUT/$p.tgz")" -gt 15000000 ]; then
    split -b 15000000 "$OUT/$p.tgz" "$OUT/$p.tgz." && rm "$OUT/$p.tgz"
  fi
done
if [ "$EVAL" = 1 ]; then
  models=(); for p in $PRESETS; do models+=(--model "$RUNS/$p/best"); done
  python3 benchmarks/robustness.py --work gpu_data --engine torch --device cuda "${models[@]}" --out "$OUT/robustness" \
    --only clean --only gs --only pdftoppm --only times --only pxfonts --only screen --only print --only dark \
    --only colour --only jpeg 2>&1 | tail -n 20
fi
ls -la "$OUT"
