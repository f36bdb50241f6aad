#!/usr/bin/env bash
# The proxy experiment of docs/results.md: the Fig. 1 ablation on what can be had offline.
# Trains the presets image, feat+image, adv+image and full for conv5 and fc6 against a
# random-weight AlexNet (random:0) on synthetic dead-leaves images, with the same budget
# each, then evaluates them on held-out synthetic images (the val split), with the
# Mahendran & Vedaldi optimisation beside them.
#
#   scripts/proxy_run.sh                       # CPU budget: 400 steps of batch 8
#   STEPS=20000 BATCH=64 DEVICE=cuda scripts/proxy_run.sh   # a GPU budget
#   ALEXNET=imagenet DATA=/data/imagenet LAMBDA_FEAT=0.01 ...   # the real thing
#
# lambda_feat is raised from the paper's 0.01 to 100: with random weights the conv5
# comparator's features are tiny (at initialisation L_feat is about 5 where L_img is about
# 4e8), and 100 makes the two terms comparable, as they are with ImageNet weights.
set -euo pipefail
OUT=${OUT:-runs/proxy}
ALEXNET=${ALEXNET:-random:0}
DATA=${DATA:-synthetic}
STEPS=${STEPS:-400}
BATCH=${BATCH:-8}
DEVICE=${DEVICE:-cpu}
LIMIT=${LIMIT:-64}
LAMBDA_FEAT=${LAMBDA_FEAT:-100}
OPT_ITERS=${OPT_ITERS:-100}
PARALLEL=${PARALLEL:-1}

train() {  # layer preset
  local extra=()
  case $2 in feat+image|full|feat+adv) extra=(--lambda-feat "$LAMBDA_FEAT");; esac
  invertnet train --layer "$1" --data "$DATA" --loss "$2" "${extra[@]}" --steps "$STEPS" --batch-size "$BATCH" \
    --alexnet "$ALEXNET" --device "$DEVICE" --seed 0 --checkpoint-every "$STEPS" --sample-every "$((STEPS / 4))" \
    --log-every 10 --out "$OUT/$1-$2" > "$OUT/$1-$2.log" 2>&1
}

mkdir -p "$OUT"
for layer in conv5 fc6; do
  for preset in image feat+image adv+image full; do
    if [ -f "$OUT/$layer-$preset/checkpoint.safetensors" ]; then continue; fi
    train "$layer" "$preset" &
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
  done
done
wait
for layer in conv5 fc6; do
  invertnet eval --layer "$layer" --data "$DATA" --split val --limit "$LIMIT" --alexnet "$ALEXNET" --device "$DEVICE" \
    --weights "$OUT/$layer-image" --weights "$OUT/$layer-feat+image" --weights "$OUT/$layer-adv+image" --weights "$OUT/$layer-full" \
    --method generator --method optimize --optimize-iterations "$OPT_ITERS" \
    --json "$OUT/eval-$layer.json" --csv "$OUT/eval-$layer.csv" --html "$OUT/report-$layer" | tee "$OUT/eval-$layer.txt"
done
for layer in conv5 fc6; do  # Fig. 4 on the first four held-out images the eval's report saved
  invertnet figure methods $(ls "$OUT/report-$layer/images/input/"*.png | head -4) --layer "$layer" \
    --weights "$OUT/$layer-image" --weights "$OUT/$layer-feat+image" --weights "$OUT/$layer-adv+image" --weights "$OUT/$layer-full" \
    --optimize --iterations "$OPT_ITERS" --alexnet "$ALEXNET" --device "$DEVICE" --out "$OUT/fig4-$layer.png"
done
