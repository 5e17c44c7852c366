#!/usr/bin/env bash
# The embedded CIFAR-10 models on one CUDA GPU in under 9 minutes: the teacher, then the DeiT and ViT
# students side by side (same recipe, epochs and seed), then their weights installed into
# vitspace/models/weights/ with `vitspace.classify.accuracy`'s accuracy on DATA/test.
#
#   scripts/train_embedded_gpu.sh [DATA_DIR] [RUNS_DIR]
#
# The data sit on the GPU as uint8 and are augmented there; bf16 autocast, large batches and
# torch.compile for the students. Every step resumes from its checkpoint, saved as CPU tensors, so a
# CPU machine can resume or install a run begun on the GPU. Then `vitspace.train.report` draws the curves
# (docs/training-curves.png) and rewrites the README's table. COPY_TO=DIR copies the installed weights,
# JSONs and curves (7 files, 19 MB) there too: a GPU machine's folder of results, say.
# STUDENT_EPOCHS (default 150), PARALLEL=0 trains the students one after the other, PYTHON (python3).
#
# TINY=1 is the test setting: 128 training images, 1 epoch, no compile, whatever device is there
# (a CPU is fine); it installs into RUNS_DIR/installed, never into vitspace/models/weights.
#
# Budget on one H100, estimated before any GPU run: training FLOPs per image (forward and backward,
# torch's FlopCounterMode) are 1.28 G for the teacher, 1.19 G for a student, 0.43 G more for DeiT's
# teacher forward.
#   teacher  24 epochs x 50k images =  1.2 M images,  1.5 PFLOP
#   ViT     150 epochs x 50k images =  7.5 M images,  8.9 PFLOP
#   DeiT    150 epochs x 50k images =  7.5 M images, 12.2 PFLOP
# 22.6 PFLOP at 60-100 TFLOP/s (6-10% of the bf16 peak: width-192 matrices over 65 tokens, and
# memory-bound norms and GELUs; a student at 50-85k images/s) is 4-6 minutes of GPU work. Decoding
# the JPEGs once (~10 s), compiling (~1 min, the students' side by side), evaluations, checkpoints
# and installs (~1 min) make it 6-8.5 minutes. The log gives each run's images/s: if they fall short,
# lower STUDENT_EPOCHS.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
data=(${1:+--data "$1"})
runs=${2:-runs}
teacher=(--epochs 24 --warmup-epochs 5 --opt sgd --lr 0.4 --min-lr 0 --weight-decay 5e-4 --batch-size 512
         --label-smoothing 0.2)  # the CPU recipe over 24 epochs; compiling would cost more than it saves here
student=(--epochs "${STUDENT_EPOCHS:-150}" --batch-size 1024 --lr 2e-3 --weight-decay 0.05 --warmup-epochs 10
         --label-smoothing 0.1 --eval-every 10 --compile)
dest=vitspace/models/weights
install=()
report=(--png docs/training-curves.png --readme README.md)  # the figure and the README's table
if [ "${TINY:-0}" = 1 ]; then
    tiny=(--epochs 1 --batch-size 64 --limit-train 128 --limit-test 100 --no-compile)  # later flags win
    teacher+=("${tiny[@]}")
    student+=("${tiny[@]}")
    dest=$runs/installed
    install=(--install-dir "$dest" --limit-test 100)
    report=(--weights "$dest" --png "$dest/training-curves.png")
fi

"$py" -m vitspace.train --model resnet9-cifar10 "${data[@]}" --out "$runs/teacher" "${teacher[@]}" --resume
vit=("$py" -m vitspace.train --model vit-tiny-cifar10 "${data[@]}" --out "$runs/vit" "${student[@]}" --resume)
deit=("$py" -m vitspace.train --model deit-tiny-cifar10 "${data[@]}" --out "$runs/deit" "${student[@]}" --resume
      --teacher "$runs/teacher/model.safetensors" --distillation soft --tau 3 --kd-reduction batchmean)
# soft at tau 3: benchmarks/stem_distill.sh; the KL per image: what made the embedded DeiT's distillation
# head follow the teacher further than the ViT (epochs 30-35, docs/benchmarks.md)
if [ "${PARALLEL:-1}" = 1 ]; then
    "${vit[@]}" & vit_pid=$!
    trap 'kill "$vit_pid" 2>/dev/null || true' EXIT  # never leave it running if DeiT fails
    "${deit[@]}"
    wait "$vit_pid"
else
    "${deit[@]}"; "${vit[@]}"
fi
for run in teacher deit vit; do
    "$py" -m vitspace.train --out "$runs/$run" "${data[@]}" --install "${install[@]}"
done
"$py" -m vitspace.train.report "${report[@]}"
if [ -n "${COPY_TO:-}" ]; then
    mkdir -p "$COPY_TO"
    for model in resnet9-cifar10 deit-tiny-cifar10 vit-tiny-cifar10; do
        cp "$dest/$model.safetensors" "$dest/$model.json" "$COPY_TO/"
    done
    cp "${report[-1]}" "$COPY_TO/"
fi
