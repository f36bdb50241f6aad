#!/usr/bin/env bash
# The proxy experiments of docs/results.md: the Fig. 1 ablation on what can be had offline.
# Trains loss presets for conv5 and fc6 against a random-weight AlexNet (ALEXNET, random:0) on
# synthetic dead-leaves images, with the same budget each, then evaluates them on held-out
# synthetic images (the val split) beside the mean training image and the Mahendran &
# Vedaldi optimisation, and draws a Fig. 4 grid per layer.
#
#   scripts/proxy_run.sh                                    # the CPU proxy: 400 steps of batch 8
#   DEVICE=cuda BATCH=64 SECONDS_PER_RUN=390 PARALLEL=6 PRESETS="image feat+image full" LIMIT=256 \
#       SAMPLE_EVERY=500 OPT_ITERS=200 scripts/proxy_run.sh  # the GPU run: 6 runs sharing one GPU for 6.5 min
#   ALEXNET=imagenet DATA=/data/imagenet ...                    # the real thing
#   ALEXNET=random-torchvision:0 LAMBDA_FEAT=100 ...           # the runs of docs/results.md
#
# SECONDS_PER_RUN trains each run for that long instead of STEPS: `timeout` sends SIGINT,
# and train saves its checkpoint and stops, as it does for a user's Ctrl-C.
# LAMBDA_FEAT is the paper's 0.01: with random:SEED's variance-preserving weights the
# weighted feature term between two different images is about 100 against about 1,600 for
# the image term. The runs of docs/results.md used random-torchvision:0, whose conv5
# features are tiny (L_feat about 5 against L_img about 4e8), with LAMBDA_FEAT=100.
# INVERTNET may name another way to run the tool (e.g. "python3 -m invertnet" from the source tree).
set -euo pipefail
OUT=${OUT:-runs/proxy}
ALEXNET=${ALEXNET:-random:0}
DATA=${DATA:-synthetic}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-}
STEPS=${STEPS:-$([ -n "$SECONDS_PER_RUN" ] && echo 1000000 || echo 400)}
BATCH=${BATCH:-8}
DEVICE=${DEVICE:-cpu}
LIMIT=${LIMIT:-64}
LAMBDA_FEAT=${LAMBDA_FEAT:-0.01}
OPT_ITERS=${OPT_ITERS:-100}
PARALLEL=${PARALLEL:-1}
PRESETS=${PRESETS:-image feat+image adv+image full}
SAMPLE_EVERY=${SAMPLE_EVERY:-$((STEPS / 4))}
INVERTNET=${INVERTNET:-invertnet}

train() {  # layer preset
  local extra=() limit=()
  case $2 in feat+image|full|feat+adv) extra=(--lambda-feat "$LAMBDA_FEAT");; esac
  [ -n "$SECONDS_PER_RUN" ] && limit=(timeout --signal INT --kill-after 120 "$SECONDS_PER_RUN")
  local status=0
  "${limit[@]}" $INVERTNET train --layer "$1" --data "$DATA" --loss "$2" "${extra[@]}" --steps "$STEPS" --batch-size "$BATCH" \
    --encoder "$ALEXNET" --device "$DEVICE" --seed 0 --checkpoint-every "$STEPS" --sample-every "$SAMPLE_EVERY" \
    --log-every 10 --out "$OUT/$1-$2" > "$OUT/$1-$2.log" 2>&1 || status=$?
  # 124: timeout stopped the run at its time budget (train saved and exited 130)
  [ "$status" -eq 0 ] || { [ -n "$SECONDS_PER_RUN" ] && [ "$status" -eq 124 ]; } || { echo "train $1 $2 failed ($status)" >&2; return 1; }
}

mkdir -p "$OUT"
for layer in conv5 fc6; do
  for preset in $PRESETS; do
    if [ -f "$OUT/$layer-$preset/checkpoint.safetensors" ]; then continue; fi
    train "$layer" "$preset" &
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
  done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done
for layer in conv5 fc6; do
  weights=()
  for preset in $PRESETS; do weights+=(--weights "$OUT/$layer-$preset"); done
  $INVERTNET eval --layer "$layer" --data "$DATA" --split val --limit "$LIMIT" --encoder "$ALEXNET" --device "$DEVICE" \
    "${weights[@]}" --method generator --method mean --method optimize --iterations "$OPT_ITERS" \
    --json "$OUT/eval-$layer.json" --csv "$OUT/eval-$layer.csv" --html "$OUT/report-$layer" | tee "$OUT/eval-$layer.txt"
done
mkdir -p "$OUT/inputs"
python3 - "$DATA" "$OUT/inputs" <<'PY'  # the first four held-out images, at their own size
import sys
from invertnet.data import open_source
from invertnet.imageio import save_image
val = open_source(sys.argv[1], "val")
for i in range(4):
    save_image(val.load(i), f"{sys.argv[2]}/{val.name(i)}.png")
PY
for layer in conv5 fc6; do  # Fig. 4: those images, then each preset's reconstruction and the optimisation's
  weights=()
  for preset in $PRESETS; do weights+=(--weights "$OUT/$layer-$preset"); done
  $INVERTNET figure methods "$OUT"/inputs/*.png --layer "$layer" "${weights[@]}" \
    --method generator --method optimize --iterations "$OPT_ITERS" --encoder "$ALEXNET" --device "$DEVICE" --out "$OUT/fig4-$layer.png"
done
