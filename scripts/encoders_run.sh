#!/usr/bin/env bash
# docs/results.md, "Other encoders": generators for ResNet-50 (a map and a vector), VGG-16 and ViT-B/16 with random
# weights, each trained for the same small budget on the CPU, against the mean training image (all offline):
#   OUT=encoders-out scripts/encoders_run.sh
# Each: STEPS steps of BATCH synthetic images with the image loss alone (preset image: the term that learns
# the layout fastest, and the only one whose scale does not depend on the encoder), then Table 2's protocol
# on 32 held-out images in the encoder's own feature space, then six of them reconstructed.
set -euo pipefail
OUT=${OUT:-encoders-out}
STEPS=${STEPS:-300}
BATCH=${BATCH:-8}
DEVICE=${DEVICE:-cpu}
INVERTNET=${INVERTNET:-invertnet}
RUNS=${RUNS:-"resnet50:random:0,layer4 resnet50:random:0,avgpool vgg16:random:0,pool5 vit_b_16:random:0,block12 random:0,conv5"}
mkdir -p "$OUT"
run() { echo "+ $*" >&2; "$@"; }

for pair in $RUNS; do
    encoder=${pair%,*} layer=${pair#*,}
    name="${encoder%%:*}-$layer"
    [ -f "$OUT/$name/generator.safetensors" ] || run /usr/bin/time -f "$name: %e s" $INVERTNET train --encoder "$encoder" --layer "$layer" \
        --data synthetic --loss image --steps "$STEPS" --batch-size "$BATCH" --out "$OUT/$name" --device "$DEVICE" \
        --log-every 25 --sample-every "$STEPS" --checkpoint-every 100
    run $INVERTNET eval --data synthetic --split val --limit 32 --weights "$OUT/$name" --method generator --method mean \
        --mean-data synthetic --json "$OUT/$name.json" --save-reconstructions "$OUT/$name-images" --device "$DEVICE"
    inputs=$(ls "$OUT/$name-images/input/"*.png | head -6)
    run $INVERTNET figure methods $inputs --layer "$layer" --weights "$OUT/$name" --out "$OUT/$name.png" --device "$DEVICE"
done
run python3 scripts/encoders_figure.py "$OUT"
