#!/usr/bin/env bash
# Replays CPU training budgets on a lent GPU (the `device` tool of DEVELOPERS.md): each
# configuration trains the steps a 2-core CPU makes in its budget (`train_budget.py --steps`, a
# step budget: same schedule, data order and batch as the CPU run), side by side on the one GPU,
# and is scored at each mark. Run in the repository root there, with the machine's own PyTorch.
#
# Carried: gpu_data/ (train_b/packed, val/packed, vocab.json: the budget runs' data, made by
# models/recipe.sh steps 1-2) and .whl/ (editdistance). train_a/packed is too large to travel
# with the rest (64 MiB a call), so a first call with STAGE_ONLY=1 carries gpu_stage/train_a and
# copies it to $STAGE outside the repository, and the next call on the still warm machine uses it.
#
#   CONFIGS="default|4531,9063,13594,18126|;coarse|5440,...,21760|--enc-blocks 16:1:2x2,..." \
#     DEADLINE=540 bash benchmarks/gpu_train_budget.sh
#
# CONFIGS: ';'-separated TAG|STEP_MARKS|TRAIN_ARGS. Results (train_budget_steps_gpu_<TAG>.{json,md}
# and the run logs) come back as $OUT/gpu_budget.tgz; nothing is started after DEADLINE seconds.
# EVAL=1 then scores each run's best checkpoint on all of val/packed with `img2tex eval`'s defaults
# (beam 2), side by side, so its eval/<TAG>/predictions.tsv comes back for error_analysis.py (the
# accent counts); EVAL_DEADLINE (default 120) seconds at most. benchmarks/seed_spread.py tabulates them.
# Speed to plan DEADLINE by (H200, 16 cores, seventeenth session): each run trained ~34 steps/s of
# batch 16 whether 3 or 6 ran side by side (the step is launch-bound, not GPU-bound), so 16,000
# steps need ~480 s; `best` is the last validated epoch's (8,474 steps an epoch on this data).
set -uo pipefail
STAGE=${STAGE:-/tmp/img2tex_stage} DEADLINE=${DEADLINE:-540} WORKERS=${WORKERS:-3}
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
source "$(dirname "$0")/../models/gpu_env.sh"  # wheels, PYTHONPATH, $OUT/machine.txt, stage_only
[ "${STAGE_ONLY:-0}" = 1 ] && stage_only gpu_stage
W=/tmp/img2tex_budget_work
rm -rf "$W" && mkdir -p "$W"
ln -s "$STAGE/train_a" "$W/train_a"
for p in train_b val vocab.json; do ln -s "$PWD/gpu_data/$p" "$W/$p"; done
ls -l "$W"/ >> "$OUT/machine.txt"
cat "$OUT/machine.txt"
names=()
IFS=';' read -ra specs <<< "${CONFIGS:?CONFIGS is empty}"
for spec in "${specs[@]}"; do
  IFS='|' read -r tag marks extra <<< "$spec"
  names+=("$tag")
  timeout -s TERM "$DEADLINE" python3 benchmarks/train_budget.py --work "$W" --steps "$marks" --decoders parallel \
    --tag "$tag" --train-args "--device cuda --workers $WORKERS $extra" --out-name "train_budget_steps_gpu_$tag" \
    > "$W/$tag.log" 2>&1 &
done
wait
for tag in "${names[@]}"; do echo "== $tag"; tail -n 12 "$W/$tag.log"; done
if [ "${EVAL:-0}" = 1 ]; then
  for tag in "${names[@]}"; do
    timeout -s TERM "${EVAL_DEADLINE:-120}" python3 -m img2tex.cli eval "$W/val/packed" --model "$W/budget/parallel-$tag/best" \
      --engine torch --device cuda -o "$W/eval/$tag" > "$W/eval_$tag.log" 2>&1 &
  done
  wait
  for tag in "${names[@]}"; do echo "== eval $tag"; tail -n 3 "$W/eval_$tag.log"; done
fi
tar czf "$OUT/gpu_budget.tgz" -C "$PWD/benchmarks/results" $(cd benchmarks/results && ls train_budget_steps_gpu_* 2>/dev/null) \
  -C "$W" $(cd "$W" && ls ./*.log) $(cd "$W" && ls budget/*/log.jsonl budget/*/config.json eval/*/* 2>/dev/null)
ls -l "$OUT"
