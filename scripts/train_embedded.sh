#!/usr/bin/env bash
# Reproduce the embedded CIFAR-10 models from scratch: the teacher, then the DeiT and ViT students
# with the same budget (epochs, recipe, seed), then install their weights into vitspace/models/weights/
# with `vitspace.classify.accuracy`'s accuracy on DATA/test, and redraw the curves and the README's table.
#
#   scripts/train_embedded.sh [DATA_DIR] [RUNS_DIR]
#
# DATA_DIR holds train/<class>/*.jpg and test/<class>/*.jpg (without it, CIFAR-10 is downloaded).
# Every step resumes from its last checkpoint, so the script can be stopped and run again.
# STUDENT_THREADS=1 PARALLEL=1 trains both students at once, one core each, as the embedded ones were.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:+--data "$1"}
runs=${2:-runs}
student=(--epochs 24 --batch-size 128 --lr 1.5e-3 --weight-decay 0.05 --warmup-epochs 5 --label-smoothing 0.1
         --threads "${STUDENT_THREADS:-2}" --resume)

python -m vitspace.train --model resnet9-cifar10 $data --out "$runs/teacher" --epochs 16 --warmup-epochs 3 \
    --opt sgd --lr 0.4 --min-lr 0 --weight-decay 5e-4 --batch-size 512 --label-smoothing 0.2 --resume
vit=(python -m vitspace.train --model vit-tiny-cifar10 $data --out "$runs/vit" "${student[@]}")
deit=(python -m vitspace.train --model deit-tiny-cifar10 $data --out "$runs/deit" "${student[@]}"
      --teacher "$runs/teacher/model.safetensors")
distil() {  # as the embedded DeiT ran: hard distillation for 6 epochs, then soft at tau 3 (what the
            # short runs of benchmarks/stem_distill.sh measured best); a finished part resumes to nothing
    "${deit[@]}" --distillation hard --stop-at-epoch 6
    "${deit[@]}" --distillation soft --tau 3
}
if [ "${PARALLEL:-0}" = 1 ]; then
    "${vit[@]}" & vit_pid=$!
    distil
    wait "$vit_pid"
else
    distil; "${vit[@]}"
fi
for pair in teacher vit deit; do
    python -m vitspace.train --out "$runs/$pair" $data --install
done
python -m vitspace.train.report --png docs/training-curves.png --readme README.md  # the figure, the README's table
