#!/usr/bin/env bash
# How the default model in models/default was made, end to end, with the project's own commands.
# Run from the repository root, with the shared data in $DATA (default ../shared/data) and LaTeX installed
# (see README). Large outputs go to $WORK (default: ../work), not into the repository.
#
# To continue the shipped run rather than start over (its optimizer and random state are in
# models/training/last), copy that in first; EPOCHS is the new total (the cosine schedule is
# stretched to it, which raises the learning rate again, a warm restart):
#   mkdir -p ../work/runs/default && cp -r models/training/last ../work/runs/default/
#   EPOCHS=9 bash models/recipe.sh
set -euo pipefail
WORK=${WORK:-../work}
DATA=${DATA:-../shared/data}
RUN=${RUN:-$WORK/runs/default}
mkdir -p "$WORK"

# 1. Training formulas: im2latex validate (less a held-out 1,000), the sample's train formulas,
#    the documentation corpus, hep-th formulas and 60k synthetic ones; normalized, <= 150 tokens,
#    deduplicated, and no formula that matches a test or held-out one in any of four spellings.
img2tex corpus "$WORK/corpus" --data-dir "$DATA"

# 2. Render the training mix: the look of the images users have, not only our renderer's. Four
#    sevenths of the formulas (85k; the packed mix must fit the 64 MiB a GPU machine is sent), each
#    drawn by one of nine pipelines chosen by its line number (n % 20). Two rasterizers of TeX
#    output (dvipng; pdflatex + Ghostscript, whose Type 1 outlines are bolder), stroke weight and
#    ink gamma varied at render resolution, screen (75 dpi) and print (300 dpi) resolutions read
#    back through predict's glyph-size rescale, five font families (Computer Modern, Latin Modern,
#    Times, Palatino, txfonts), colour and dark mode, margins, blur, noise and JPEG. Held out for
#    the robustness benchmark: the pdftoppm rasterizer and the pxfonts family.
awk 'NR%7<4' "$WORK/corpus/train.lst" > "$WORK/mix.lst"
part() {  # part NAME SEED SHARES RENDER_OPTIONS...: the formulas whose line number n has n % 20 in SHARES
  local name=$1 seed=$2 shares=$3; shift 3
  awk -v c="$shares" 'BEGIN{split(c,a,",");for(i in a)k[a[i]]=1} ((NR%20) in k)' "$WORK/mix.lst" > "$WORK/mix/$name.lst"
  img2tex render "$WORK/mix/$name.lst" "$WORK/mix/$name" --packed --seed "$seed" "$@" || [ $? -eq 3 ]
}
mkdir -p "$WORK/mix"
MILD=(--dpi-jitter 0.15 --extra-pad 3 --blur 0.5 --noise 6 --gamma 0.4 --stroke 0.6)
part dvipng 11 0,1,2,3,4,5 "${MILD[@]}"
part gs 12 6,7,8,9 --rasterizer gs "${MILD[@]}"
part rough 13 10,11,12 --rasterizer gs --dpi-jitter 0.2 --extra-pad 8 --blur 0.8 --noise 10 --jpeg-quality 40 \
  --stroke 0.6 --colour 0.6
part screen 14 13,14 --dpi 75 --downsample 1 --dpi-jitter 0.2 --extra-pad 4 --gamma 0.4 --colour 0.4 --rescale
part print 15 15 --rasterizer gs --dpi 300 --downsample 1 --dpi-jitter 0.2 --stroke 0.9 --noise 6 --rescale
part times 16 16 --font times "${MILD[@]}"
part palatino 17 17 --font palatino --rasterizer gs "${MILD[@]}"
part txfonts 18 18 --font txfonts --rasterizer gs "${MILD[@]}"
part lmodern 19 19 --font lmodern "${MILD[@]}"
img2tex render "$WORK/corpus/val.lst" "$WORK/val" --split validate --names "$WORK/corpus/val_names.lst" --packed || [ $? -eq 3 ]

# 3. Vocabulary (tokens seen at least twice) and training on the CPU preset with bf16 autocast
#    (the CPU here has AVX512-BF16), in three phases, one per session: 3 epochs on the renders as
#    they are; then two warm restarts (the cosine schedule stretched to 5, then 7 epochs), each
#    with 2 more epochs at --scale-jitter 0.6: half the images resized by up to 1.6x either way
#    and read back through the glyph-size rescale, as predict reads users' images. Training can be
#    stopped (Ctrl-C) and continued with --resume at any time; --epochs on a resume changes the
#    length of the run. A phase is skipped when the run folder's training state is already past
#    it (continue an interrupted phase 1 by running its command with --resume).
img2tex vocab "$WORK/train_a" "$WORK/train_b" --min-count 2 -o "$WORK/vocab.json" --val-split ''
TRAIN=(img2tex train "$WORK/train_a/packed" "$WORK/train_b/packed" --val "$WORK/val/packed" --vocab "$WORK/vocab.json"
       -o "$RUN" --preset cpu --batch-size 32 --val-size 500 --bf16 on)
epochs_done() {
  python -c 'import json, sys; print(json.load(open(sys.argv[1]))["state"]["epoch"])' "$RUN/last/train_state.json" 2>/dev/null || echo 0
}
if [ ! -e "$RUN/last/train_state.json" ]; then
  "${TRAIN[@]}" --epochs 3
fi
if [ "$(epochs_done)" -lt 5 ]; then
  "${TRAIN[@]}" --epochs 5 --scale-jitter 0.6 --resume
fi
"${TRAIN[@]}" --epochs "${EPOCHS:-7}" --scale-jitter 0.6 --resume

# 4. Ship: the best checkpoint becomes the default model.
mkdir -p models/default
cp "$RUN/best/model.safetensors" "$RUN/best/config.json" "$RUN/best/vocab.json" models/default/
# The ONNX graphs that predict runs on (training exported best/ already; this makes sure they
# belong to these weights).
img2tex export models/default
# ... and the run's record and resume state go to models/training.
mkdir -p models/training
cp -r "$RUN/log.jsonl" "$RUN/loss.png" "$RUN/config.json" "$RUN/last" models/training/
