#!/usr/bin/env bash
# Why the DeiT student learns nothing from its teacher: short runs at equal compute (same images, epochs
# and seed for every arm; the committed teacher), each logging the distillation head's agreement with
# the teacher on the test images and its KL to it; the ViT's agreement is the reference.
#
#   benchmarks/kd_study.sh DATA_DIR RUNS_DIR [ARM...]
#
# Arms: vit, hard, soft-deit (DeiT's KL normalisation), soft-batchmean (KL per image), soft-batchmean-tau1,
# soft-batchmean-clean (the teacher sees the un-augmented image), soft-batchmean-alpha0.9.
# IMAGES (default 10000 training images), EPOCHS (8), THREADS (1 per run; two runs at a time),
# TEST (2000 test images, scored every 2 epochs).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1 runs=$2; shift 2
source benchmarks/short_runs.sh
common+=(--limit-test "${TEST:-2000}" "${teacher[@]}")
declare -A arm=(
    [vit]="--model vit-tiny-cifar10"
    [hard]="--model deit-tiny-cifar10 --distillation hard"
    [soft-deit]="--model deit-tiny-cifar10 --distillation soft --tau 3"
    [soft-batchmean]="--model deit-tiny-cifar10 --distillation soft --tau 3 --kd-reduction batchmean"
    [soft-batchmean-tau1]="--model deit-tiny-cifar10 --distillation soft --tau 1 --kd-reduction batchmean"
    [soft-batchmean-clean]="--model deit-tiny-cifar10 --distillation soft --tau 3 --kd-reduction batchmean --teacher-view clean"
    [soft-batchmean-alpha0.9]="--model deit-tiny-cifar10 --distillation soft --tau 3 --kd-reduction batchmean --alpha 0.9"
)
arms=("${@:-vit hard soft-deit soft-batchmean soft-batchmean-clean soft-batchmean-tau1}")
read -r -a arms <<< "${arms[*]}"
mkdir -p "$runs"
run() { python -m vitspace.train ${arm[$1]} --out "$runs/$1" "${common[@]}" > "$runs/$1.out" 2>&1; }
for ((i = 0; i < ${#arms[@]}; i += 2)); do  # two at a time, one core each
    run "${arms[i]}" & first=$!
    [ -z "${arms[i + 1]:-}" ] || run "${arms[i + 1]}"
    wait "$first"
done
python - "$runs" "${arms[@]}" <<'PY'
import json, sys
from pathlib import Path
runs, arms = Path(sys.argv[1]), sys.argv[2:]
print("| arm | test top-1 | distillation head agrees with the teacher | its KL to the teacher | class head agrees |")
print("|---|---|---|---|---|")
for a in arms:
    r = [json.loads(line) for line in (runs / a / "log.jsonl").read_text().splitlines()][-1]
    print(f"| {a} | {r['test_acc']:.2%} | {r['teacher_agree']:.2%} | {r['teacher_kl']:.3f} | {r['cls_teacher_agree']:.2%} |")
PY
