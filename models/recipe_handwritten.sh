#!/usr/bin/env bash
# How the handwritten model in models/handwritten is made, with the project's own commands.
# Run from the repository root, with CROHME in $DATA/crohme (default ../shared/data/crohme: the
# "crohme-png" conversion, see its README). Run state goes to $WORK (default ../work/hw).
#
#   bash models/recipe_handwritten.sh            # train (again to resume after Ctrl-C or a crash)
#   SHIP=1 bash models/recipe_handwritten.sh     # copy $RUN/best into models/handwritten, export, score
#
# 1. Training: the shipped printed model (models/default: its network, vocabulary and weights)
#    fine-tuned on CROHME's 8,835 training expressions, read at a glyph size of 14 px (the printed
#    model reads 9.7 px; handwritten strokes want more pixels: docs/experiments.md), 80% of them
#    warped each epoch as pens vary (--augment pen: slant, tilt, stretch, stroke weight, coarse and
#    fine wobble). Peak lr 1e-3 after 500 warm-up steps, one cosine schedule over 60 training
#    minutes (--time-budget: validation not counted; on 2 AMD EPYC cores with AVX512-BF16, where
#    bf16 is on, that is 45 epochs). Validation: CROHME 2013 (the literature's validation set),
#    all 671, greedy, each epoch; best/ is the epoch with the best validation BLEU-4. CROHME 2014
#    is the test set: it is only scored (step 2), never used to choose anything.
#    (The shipped run was started with --time-budget 75 and the default cap of 15 epochs, which
#    ended it after 20 training minutes; it resumed with the budget shortened to 60, so its
#    learning rate stepped there from 8.4e-4 to 7.6e-4. A budget without --epochs now runs to its end.)
# 2. Ship (SHIP=1): best/ into models/handwritten with its ONNX export, the training record into
#    models/training/handwritten, and its CROHME 2014 expression rate.
set -euo pipefail
WORK=${WORK:-../work/hw}
DATA=${DATA:-../shared/data}
RUN=${RUN:-$WORK/run}
mkdir -p "$WORK"

if [ "${SHIP:-0}" != 1 ]; then
  common=("$DATA/crohme" --split train --val "$DATA/crohme" --val-split 2013 -o "$RUN")
  if [ -f "$RUN/last/train_state.json" ]; then
    exec img2tex train "${common[@]}" --resume
  fi
  exec img2tex train "${common[@]}" --val-size 671 --augment pen --init-from models/default --lr 1e-3 \
    --text-height 14 --time-budget 60 --seed 0 "$@"
fi

DEST=${DEST:-models/handwritten}
SRC=${SRC:-$RUN/best}
REC=models/training/handwritten
mkdir -p "$DEST" "$REC"
cp "$SRC/model.safetensors" "$SRC/config.json" "$SRC/vocab.json" "$DEST/"
img2tex export "$DEST"
cp "$RUN/log.jsonl" "$RUN/config.json" "$REC/"
python -c 'import sys; from pathlib import Path; from img2tex.training.runlog import draw_run; draw_run(Path(sys.argv[1]))' "$REC"
img2tex eval "$DATA/crohme" --split 2014 --model "$DEST" -o "$WORK/eval2014"
