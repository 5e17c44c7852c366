#!/usr/bin/env bash
# What an exponential moving average of the weights (`--ema`, timm's ModelEmaV3 with warm-up) gives the
# conv-stem ViT and the DeiT with soft distillation at tau 3, in the short runs of stem_distill.sh:
# the same four runs with and without it, one after the other, then each final test top-1. Runs that
# RUNS_DIR already holds (stem_distill.sh's conv-vit and conv-deit-soft, say) are reused.
#
#   benchmarks/ema_distill.sh DATA_DIR RUNS_DIR
#
# EMA (decay, default 0.9998; over ~600 steps the warm-up keeps it near 0.99), IMAGES, EPOCHS, THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1 runs=$2
source benchmarks/short_runs.sh
ema=(--ema "${EMA:-0.9998}")
soft=(--distillation soft --tau 3)
mkdir -p "$runs"
run() {  # NAME MODEL FLAGS...
    python -m vitspace.train --model "$2" --stem conv --out "$runs/$1" "${common[@]}" "${@:3}" > "$runs/$1.out" 2>&1
}
run conv-vit vit-tiny-cifar10
run conv-vit-ema vit-tiny-cifar10 "${ema[@]}"
run conv-deit-soft deit-tiny-cifar10 "${teacher[@]}" "${soft[@]}"
run conv-deit-soft-ema deit-tiny-cifar10 "${teacher[@]}" "${soft[@]}" "${ema[@]}"
echo "| weights | ViT | DeiT, soft at tau 3 |"
echo "|---|---|---|"
echo "| the last step's | $(last_top1 "$runs/conv-vit") | $(last_top1 "$runs/conv-deit-soft") |"
echo "| their average (EMA) | $(last_top1 "$runs/conv-vit-ema") | $(last_top1 "$runs/conv-deit-soft-ema") |"
