#!/usr/bin/env bash
# The proxy experiment of docs/results.md: the Fig. 1 ablation on what can be had offline.
# Trains the presets image, feat+image, adv+image and full for conv5 and fc6 against a
# random-weight AlexNet (random:0) on synthetic dead-leaves images, with the same budget
# each, then evaluates them on held-out synthetic images (the val split), with the
# Mahendran & Vedaldi optimisation beside them.
#
#   scripts/proxy_run.sh                       # CPU budget: 400 steps of batch 8
#   STEPS=20000 BATCH=64 DEVICE=cuda scripts/proxy_run.sh   # a GPU budget
#
# lambda_feat is raised from the paper's 0.01 to 100: with random weights the conv5
# comparator's features are tiny (at initialisation L_feat is about 5 where L_img is about
# 4e8), and 100 makes the two terms comparable, as they are with ImageNet weights.
set -euo pipefail
OUT=${OUT:-runs/proxy}
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
  invertnet train --layer "$1" --data synthetic --loss "$2" "${extra[@]}" --steps "$STEPS" --batch-size "$BATCH" \
    --alexnet random:0 --device "$DEVICE" --seed 0 --checkpoint-every "$STEPS" --sample-every "$((STEPS / 4))" \
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
  invertnet eval --layer "$layer" --data synthetic --split val --limit "$LIMIT" --alexnet random:0 --device "$DEVICE" \
    --weights "$OUT/$layer-image" --weights "$OUT/$layer-feat+image" --weights "$OUT/$layer-adv+image" --weights "$OUT/$layer-full" \
    --method generator --method optimize --optimize-iterations "$OPT_ITERS" \
    --json "$OUT/eval-$layer.json" --csv "$OUT/eval-$layer.csv" --html "$OUT/report-$layer" | tee "$OUT/eval-$layer.txt"
done
