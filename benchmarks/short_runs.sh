# The short runs the distillation studies compare at equal compute (sourced by them): a subset of
# CIFAR-10, few epochs, the committed teacher. IMAGES (default 10000), EPOCHS (8), THREADS (1 per run).
common=(--data "$data" --limit-train "${IMAGES:-10000}" --epochs "${EPOCHS:-8}" --batch-size 128 --lr 1.5e-3
        --weight-decay 0.05 --warmup-epochs 1 --label-smoothing 0.1 --eval-every 2 --threads "${THREADS:-1}" --resume)
teacher=(--teacher vitspace/models/weights/resnet9-cifar10.safetensors)
last_top1() {  # a run's final test top-1, from its log
    python -c 'import json, sys; print("{:.2%}".format(json.loads(open(sys.argv[1]).read().splitlines()[-1])["test_acc"]))' "$1/log.jsonl"
}
