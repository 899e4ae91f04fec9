#!/usr/bin/env bash
# One part of GPU training, run on a lent GPU machine (the `device` tool of DEVELOPERS.md) in the
# repository root, with the machine's own PyTorch and img2tex from this checkout. Carried:
# gpu_data/ (packed training parts under gpu_data/train/*/packed, the validation split under
# gpu_data/val/packed, vocab.json, and with INIT_FROM a model folder; made by models/recipe.sh)
# and .whl/ (wheels the machine lacks: editdistance).
#
# Training: each preset in $PRESETS trains (side by side on the one GPU) for $MINUTES minutes in
# this part, on a learning-rate schedule over $BUDGET minutes in all; or, with INIT_FROM, one run
# fine-tunes that model (fresh optimizer) over $BUDGET minutes. A later part on the same (still
# warm) machine resumes from $RUNS, outside the repository: the device tool re-syncs the working
# tree on each call and removes what it does not know. With INIT_FROM and PRESETS both set, the
# fine-tune (FT_LR, FT_BATCH) and the presets train side by side; a run whose state is in $RUNS
# resumes (--resume) instead of starting again.
#
# More data than one call can carry: a first call with STAGE_ONLY=1 copies the parts under
# $STAGE_FROM/train (default gpu_data/train) to $STAGE, outside the repository, and stops; the
# next call on the still warm machine (within the tool's idle window) trains on $STAGE's parts and
# its own.
#
# After training, with SPEED="preset:batch ...", each configuration trains alone for SPEED_MINUTES
# on the same data (no jitter, no validation) and its median samples/s and tokens/s go to
# $OUT/speed.tsv. What comes back is written to $OUT (at most 8 files of 16 MB); the script stops
# starting work once DEADLINE seconds have passed.
set -uo pipefail
INIT_FROM=${INIT_FROM:-} BATCH=${BATCH:-64} LR=${LR:-1e-3} WORKERS=${WORKERS:-7} JITTER=${JITTER:-0.6}
MINUTES=${MINUTES:-7} BUDGET=${BUDGET:-13} DEVICE=${DEVICE:-cuda} FT_LR=${FT_LR:-$LR} FT_BATCH=${FT_BATCH:-$BATCH}
if [ -n "$INIT_FROM" ]; then PRESETS=${PRESETS:-}; else PRESETS=${PRESETS:-base paper}; fi
STAGE=${STAGE:-/tmp/img2tex_stage}
SPEED=${SPEED:-} SPEED_MINUTES=${SPEED_MINUTES:-0.5} DEADLINE=${DEADLINE:-540} VAL_SIZE=${VAL_SIZE:-500}
OUT=${OUT:-gpu_out} RUNS=${RUNS:-/tmp/img2tex_gpu_runs}
mkdir -p "$OUT" "$RUNS"
source "$(dirname "$0")/gpu_env.sh"  # wheels, PYTHONPATH, $OUT/machine.txt, stage_only
[ "${STAGE_ONLY:-0}" = 1 ] && stage_only "${STAGE_FROM:-gpu_data}/train"
mapfile -t TRAIN_DATA < <(ls -d gpu_data/train/*/packed "$STAGE"/*/packed 2>/dev/null)
echo "training parts: ${#TRAIN_DATA[@]}" | tee -a "$OUT/machine.txt"
left() { local s=$((DEADLINE - SECONDS)); echo $((s > 1 ? s : 1)); }  # timeout refuses 0 or less

runs=()
start() {  # start NAME MAX_MINUTES FRESH_ARGS...: train $RUNS/NAME in the background, resuming the
  # state a previous call left there, else starting with FRESH_ARGS; MAX_MINUTES may be empty
  local name=$1 max=$2
  shift 2
  local args=(python3 -m img2tex.cli train "${TRAIN_DATA[@]}" --val gpu_data/val/packed -o "$RUNS/$name"
              --workers "$WORKERS" --device "$DEVICE")
  [ -n "$max" ] && args+=(--max-minutes "$max")
  if [ -e "$RUNS/$name/last/train_state.json" ]; then args+=(--resume); else args+=("$@"); fi
  runs+=("$name")
  timeout -s TERM "$(left)" "${args[@]}" >> "$RUNS/$name.log" 2>&1 &
}
if [ -n "$INIT_FROM" ]; then
  start finetune "" --init-from "$INIT_FROM" --batch-size "$FT_BATCH" --lr "$FT_LR" --time-budget "$BUDGET" \
    --epochs 1000 --scale-jitter "$JITTER" --val-size "$VAL_SIZE" --checkpoint-every 1000 --no-export
fi
for p in $PRESETS; do
  start "$p" "$MINUTES" --vocab gpu_data/vocab.json --preset "$p" --batch-size "$BATCH" --lr "$LR" \
    --time-budget "$BUDGET" --scale-jitter "$JITTER" --val-size "$VAL_SIZE" --checkpoint-every 500 --no-export
done
wait
for p in "${runs[@]}"; do
  tail -c 2000 "$RUNS/$p.log"
  tar czf "$OUT/$p.tgz" -C "$RUNS" "$p.log" "$p/log.jsonl" "$p/config.json" "$p/best" "$p/last/model.safetensors" \
    "$p/last/config.json" "$p/last/vocab.json" 2>/dev/null
  if [ "$(stat -c %s "$OUT/$p.tgz")" -gt 15000000 ]; then
    split -b 15000000 "$OUT/$p.tgz" "$OUT/$p.tgz." && rm "$OUT/$p.tgz"
  fi
done

printf 'preset\tbatch\tparameters\tsamples_per_s\ttokens_per_s\tintervals\n' > "$OUT/speed.tsv"
for spec in $SPEED; do
  p=${spec%%:*} b=${spec##*:}
  if [ "$(left)" -lt 40 ]; then echo "speed $spec: skipped, deadline"; continue; fi
  timeout -s TERM "$(left)" python3 -m img2tex.cli train "${TRAIN_DATA[@]}" -o "$RUNS/speed_${p}_$b" \
    --vocab gpu_data/vocab.json --preset "$p" --batch-size "$b" --max-minutes "$SPEED_MINUTES" --epochs 1000 \
    --workers "$WORKERS" --device "$DEVICE" --no-export > "$RUNS/speed_${p}_$b.log" 2>&1
  python3 - "$RUNS/speed_${p}_$b" "$p" "$b" >> "$OUT/speed.tsv" <<'EOF'
import json, statistics, sys
run, preset, batch = sys.argv[1:]
try:
    rows = [json.loads(line) for line in open(f"{run}/log.jsonl")]
except FileNotFoundError:
    rows = []
train = [r for r in rows if r.get("kind") == "train"]
train = train[1:] or train  # the first interval holds start-up
params = json.load(open(f"{run}/config.json")).get("parameters", "")
if train:
    med = lambda k: round(statistics.median(r[k] for r in train), 1)
    print(preset, batch, params, med("samples_per_s"), med("tokens_per_s"), len(train), sep="\t")
EOF
done
cat "$OUT/speed.tsv"
ls -la "$OUT"
