#!/usr/bin/env bash
# train --gpu-decode on a GPU: nvJPEG against Pillow on odd files (tests/test_jpeg.py, CUDA test
# included), the input pipeline with each decoder beside the fc6 step (bench), and real fc6
# training runs (--cuda-graph, batch 64) on a JPEG folder with each decoder.
#
#   OUT=decode-out scripts/gpu_decode_run.sh
#
# INVERTNET may name another way to run the tool (e.g. "python3 -m invertnet" from the source tree).
set -uo pipefail
OUT=${OUT:-decode-out}
INVERTNET=${INVERTNET:-invertnet}
DATA=${DATA:-/tmp/invertnet-jpegs}
COUNT=${COUNT:-2048}
STEPS=${STEPS:-600}
mkdir -p "$OUT"
status=0
run() { "$@" || { echo "FAILED ($?): $*" >&2; status=1; }; }
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, torchvision, os; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cpus', os.cpu_count())" >> "$OUT/gpu.txt"
cat "$OUT/gpu.txt"
run python3 -m pytest -q -s -p no:cacheprovider tests/test_jpeg.py 2>&1 | tee "$OUT/test_jpeg.log"
[ -d "$DATA" ] || run python3 scripts/make_jpeg_folder.py "$DATA" --count "$COUNT"
run $INVERTNET bench --layer fc6 --cuda-graph --data "$DATA" --json "$OUT/bench-gpu-decode.json" 2>&1 | tee "$OUT/bench-gpu-decode.log"
for decode in no-gpu-decode gpu-decode; do
    run $INVERTNET train --layer fc6 --data "$DATA" --out "$OUT/run-$decode" --encoder random:0 --cuda-graph --"$decode" \
        --steps "$STEPS" --log-every 50 --sample-every 1000000 --checkpoint-every 1000000 > "$OUT/train-$decode.log" 2>&1
    tail -n 4 "$OUT/train-$decode.log"
    python3 - "$OUT/run-$decode/metrics.jsonl" <<'PY' | tee -a "$OUT/train-$decode.log"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])][2:]  # the first 100 steps: warm-up, capture, loader start
rate = sum(r["images_per_s"] for r in records) / len(records)
print(f"{sys.argv[1]}: steady images/s {rate:.0f} over {len(records)} records of 50 steps")
PY
done
exit $status
