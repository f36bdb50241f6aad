#!/usr/bin/env bash
# docs/results.md, "Synthesis": DGN-AM's gradient method, CMA-ES and XDream's genetic algorithm on the same units, against the best of the
# held-out natural images, through a generator trained here (all offline, on the CPU):
#   OUT=synthesis-out scripts/synthesis_run.sh
set -euo pipefail
OUT=${OUT:-synthesis-out}
UNITS=${UNITS:-0,1,2,3,4,5,6,7,8,9}
STEPS=${STEPS:-500}
GENERATIONS=${GENERATIONS:-200}
DEVICE=${DEVICE:-cpu}
INVERTNET=${INVERTNET:-invertnet}
mkdir -p "$OUT"
run() { echo "+ $*" >&2; "$@"; }

[ -f "$OUT/fc6/generator.safetensors" ] || run $INVERTNET train --layer fc6 --data synthetic --encoder random:0 --loss feat+image \
    --steps "$STEPS" --batch-size 16 --out "$OUT/fc6" --device "$DEVICE" --log-every 25 --sample-every 250 --checkpoint-every 250
common=(--target "random:0:fc8:$UNITS" --weights "$OUT/fc6" --data synthetic --limit 256 --seed 0 --device "$DEVICE")
run $INVERTNET synthesize "${common[@]}" --method gradient --iterations 200 --out "$OUT/gradient.png" --json "$OUT/gradient.json"
run $INVERTNET synthesize "${common[@]}" --method cma --iterations "$GENERATIONS" --out "$OUT/cma.png" --json "$OUT/cma.json"
run $INVERTNET synthesize "${common[@]}" --method ga --iterations "$GENERATIONS" --out "$OUT/ga.png" --json "$OUT/ga.json"
run python3 scripts/synthesis_table.py "$OUT/gradient.json" "$OUT/cma.json" "$OUT/ga.json" | tee "$OUT/table.md"
