#!/usr/bin/env bash
# The GPU measurements of docs/performance.md, in one go: that the CUDA-graph step computes
# what the eager one does; every layer's training step at batch 64 against fp32 eager, eager
# and captured into a CUDA graph; invert and the input pipeline; the fc6 step under
# torch.compile; torch.profiler tables of the fc6 step; ResNet-50's training step beside them.
#
#   OUT=bench-out scripts/gpu_bench.sh
#
# INVERTNET may name another way to run the tool (e.g. "python3 -m invertnet" from the source tree).
# Each measurement runs even if one before it failed; the exit code says whether all passed.
set -uo pipefail
OUT=${OUT:-bench-out}
INVERTNET=${INVERTNET:-invertnet}
mkdir -p "$OUT"
status=0
run() { "$@" || { echo "FAILED ($?): $*" >&2; status=1; }; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, torchvision, os; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cpus', os.cpu_count())" >> "$OUT/gpu.txt"
cat "$OUT/gpu.txt"
run python3 scripts/check_cuda_graph.py
run $INVERTNET bench --json "$OUT/bench-gpu.json"
run $INVERTNET bench --cuda-graph --json "$OUT/bench-gpu-graph.json"
run python3 scripts/profile_step.py --layer fc6 --batch-size 64 --out "$OUT"
run python3 scripts/profile_step.py --layer fc6 --batch-size 64 --cuda-graph --out "$OUT"
run $INVERTNET bench --compile --layer fc6 --json "$OUT/bench-compile-fc6.json"
# issue 31: ResNet-50's training rate beside AlexNet's (the same bench, its layer4 map and avgpool vector)
run $INVERTNET bench --encoder resnet50:random:0 --layer layer4 --layer avgpool --json "$OUT/bench-resnet50.json"
exit $status
