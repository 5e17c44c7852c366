#!/usr/bin/env bash
# What distillation gives a student with the convolutional stem (the embedded ones) against one with
# DeiT's plain 4x4 patchify layer, at equal compute: for each stem, three short runs of
# `python -m vitspace.train` on a subset of CIFAR-10 (a ViT; a DeiT with hard distillation; a DeiT
# with soft distillation at tau 3), the committed teacher for the DeiT runs, then each final test top-1.
#
#   benchmarks/stem_distill.sh DATA_DIR RUNS_DIR
#
# IMAGES (default 10000 training images), EPOCHS (8), THREADS (1 per run; two runs at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1 runs=$2
source benchmarks/short_runs.sh
pair() {  # the ViT, then the DeiTs, with one stem
    python -m vitspace.train --model vit-tiny-cifar10 --stem "$1" --out "$runs/$1-vit" "${common[@]}" > "$runs/$1-vit.out" 2>&1
    python -m vitspace.train --model deit-tiny-cifar10 --stem "$1" --out "$runs/$1-deit" "${common[@]}" "${teacher[@]}" \
        --distillation hard > "$runs/$1-deit.out" 2>&1
    python -m vitspace.train --model deit-tiny-cifar10 --stem "$1" --out "$runs/$1-deit-soft" "${common[@]}" \
        "${teacher[@]}" --distillation soft --tau 3 > "$runs/$1-deit-soft.out" 2>&1
}
mkdir -p "$runs"
pair conv & conv=$!
pair patch
wait "$conv"
python - "$runs" <<'PY'
import json, sys
from pathlib import Path
print("| stem | ViT | DeiT, hard distillation | DeiT, soft at tau 3 |\n|---|---|---|---|")
for stem in ("conv", "patch"):
    vit, hard, soft = [json.loads((Path(sys.argv[1]) / f"{stem}-{m}" / "log.jsonl").read_text().splitlines()[-1])
                       ["test_acc"] for m in ("vit", "deit", "deit-soft")]
    print(f"| {stem} | {vit:.2%} | {hard:.2%} ({100 * (hard - vit):+.1f}) | {soft:.2%} ({100 * (soft - vit):+.1f}) |")
PY
