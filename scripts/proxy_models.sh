#!/usr/bin/env bash
# The proxy runs of docs/results.md for the paper's other models: the DeePSiM VAE (NIPS section
# 4.2, Fig. 8) and autoencoder (arXiv v1), each trained with the squared Euclidean image loss
# alone (`--loss image`, Fig. 8a) and with the DeePSiM loss (`--loss full`), on synthetic
# dead-leaves images against a random-weight encoder (ALEXNET, random:0); then samples from
# the VAEs' prior and one eval table with the three model kinds (an fc6 inverter trained the
# same way beside them).
#
#   LAMBDA_KL=0.1 SECONDS_PER_RUN=270 scripts/proxy_models.sh       # the CPU proxy of docs/results.md
#   DEVICE=cuda BATCH=64 SECONDS_PER_RUN=300 PARALLEL=5 scripts/proxy_models.sh   # on one GPU
#   ALEXNET=imagenet DATA=/data/imagenet AE_DATA=/data/stl10/unlabeled STEPS=500000 ...   # the real thing
#
# LAMBDA_KL is the paper's 20 by default. In the proxy (random encoder, synthetic images) the
# weighted reconstruction terms are about 1e3 and 20 x eq. 8 pulled both VAEs onto the prior
# within 30 steps (kl = 2048, eq. 8's floor), so the proxy runs with 0.1 (docs/results.md).
# SECONDS_PER_RUN trains each run for that long (`timeout` sends SIGINT; train saves and stops).
# INVERTNET may name another way to run the tool (e.g. "python3 -m invertnet" from the source tree).
set -euo pipefail
OUT=${OUT:-runs/proxy-models}
ALEXNET=${ALEXNET:-random:0}
DATA=${DATA:-synthetic}
AE_DATA=${AE_DATA:-$DATA}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-420}
LAMBDA_KL=${LAMBDA_KL:-20}
STEPS=${STEPS:-1000000}
BATCH=${BATCH:-8}
DEVICE=${DEVICE:-cpu}
LIMIT=${LIMIT:-64}
PARALLEL=${PARALLEL:-2}
INVERTNET=${INVERTNET:-invertnet}

train() {  # name, then train's own options
  local name=$1 status=0
  shift
  timeout --signal INT --kill-after 120 "$SECONDS_PER_RUN" $INVERTNET train "$@" --steps "$STEPS" --batch-size "$BATCH" \
    --encoder "$ALEXNET" --device "$DEVICE" --seed 0 --checkpoint-every 100 --sample-every 100 --log-every 5 \
    --out "$OUT/$name" > "$OUT/$name.log" 2>&1 || status=$?
  # 124: timeout stopped the run at its time budget (train saved and exited 130)
  [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || { echo "train $name failed ($status)" >&2; return 1; }
}

mkdir -p "$OUT"
runs=(
  "vae-image --model vae --data $DATA --loss image --lambda-kl $LAMBDA_KL"
  "vae-full --model vae --data $DATA --loss full --lambda-kl $LAMBDA_KL"
  "autoencoder-image --model autoencoder --data $AE_DATA --loss image"
  "autoencoder-full --model autoencoder --data $AE_DATA --loss full"
  "fc6-full --layer fc6 --data $DATA --loss full"
)
for run in "${runs[@]}"; do
  read -r -a args <<< "$run"
  if [ -f "$OUT/${args[0]}/checkpoint.safetensors" ]; then continue; fi
  train "${args[@]}" &
  while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done
for model in vae-image vae-full; do
  $INVERTNET sample --weights "$OUT/$model" --count 16 --seed 0 --device "$DEVICE" --out "$OUT/samples-$model.png"
done
weights=()
for run in "${runs[@]}"; do weights+=(--weights "$OUT/${run%% *}"); done
$INVERTNET eval --data "$DATA" --split val --limit "$LIMIT" --device "$DEVICE" "${weights[@]}" --method generator --method mean --mean-images 256 \
  --json "$OUT/eval.json" --csv "$OUT/eval.csv" > "$OUT/eval.txt"
cat "$OUT/eval.txt"
