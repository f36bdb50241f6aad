#!/usr/bin/env bash
# docs/results.md, "The adversarial term on a CPU": from the demo's image-loss generator, fine-tune with adv+image and
# with full, against continuing the image loss for the same steps; then Table 2's protocol with sharpness and the
# lattice check on held-out images (all offline, on the CPU):
#   OUT=adv-out scripts/adversarial_run.sh
# EXTRA names further fine-tunes as NAME=flags;... (e.g. "adv-0.1=--loss adv+image --lambda-adv 10").
set -euo pipefail
OUT=${OUT:-adv-out}
BASE_STEPS=${BASE_STEPS:-300}
STEPS=${STEPS:-300}
BATCH=${BATCH:-8}
EVAL=${EVAL:-64}
DEVICE=${DEVICE:-cpu}
INVERTNET=${INVERTNET:-invertnet}
mkdir -p "$OUT"
run() { echo "+ $*" >&2; "$@"; }
common=(--layer conv5 --encoder random:0 --data synthetic --batch-size "$BATCH" --device "$DEVICE" --log-every 10)

[ -f "$OUT/image/generator.safetensors" ] || run /usr/bin/time -f "base: %e s" $INVERTNET train "${common[@]}" --loss image \
    --steps "$BASE_STEPS" --out "$OUT/image" --sample-every "$BASE_STEPS" --checkpoint-every "$BASE_STEPS"
declare -A tunes=([tune-image]="--loss image" [tune-adv]="--loss adv+image" [tune-full]="--loss full")
IFS=';' read -ra extra <<< "${EXTRA:-}"
for item in "${extra[@]}"; do [ -n "$item" ] && tunes[${item%%=*}]="${item#*=}"; done
for name in "${!tunes[@]}"; do
    # shellcheck disable=SC2086 # the flags are words
    [ -f "$OUT/$name/generator.safetensors" ] || run /usr/bin/time -f "$name: %e s" $INVERTNET train "${common[@]}" ${tunes[$name]} \
        --init "$OUT/image" --steps "$STEPS" --out "$OUT/$name" --sample-every "$STEPS" --checkpoint-every "$STEPS"
done
weights=(--weights "$OUT/image")
for name in $(printf '%s\n' "${!tunes[@]}" | sort); do weights+=(--weights "$OUT/$name"); done
rm -rf "$OUT/images"  # the pictures of this evaluation alone
run $INVERTNET eval --data synthetic --split val --limit "$EVAL" --layer conv5 "${weights[@]}" --method generator --method mean \
    --mean-data synthetic --json "$OUT/eval.json" --csv "$OUT/eval.csv" --save-reconstructions "$OUT/images" --device "$DEVICE" --wide
run python3 scripts/adversarial_table.py "$OUT"
