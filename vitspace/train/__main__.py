"""Train the embedded CIFAR-10 models: a convnet teacher, a ViT student and a DeiT student.

    python -m vitspace.train --model resnet9-cifar10 --data DIR --out runs/teacher
    python -m vitspace.train --model vit-tiny-cifar10 --data DIR --out runs/vit
    python -m vitspace.train --model deit-tiny-cifar10 --data DIR --out runs/deit \\
        --teacher runs/teacher/model.safetensors --distillation hard
    python -m vitspace.train --out runs/deit --data DIR --install

Each epoch is checkpointed (`OUT/last.pt`, `--resume` continues exactly), logged to `OUT/log.jsonl`,
and the final weights land in `OUT/model.safetensors` with `OUT/model.json`. `--stop-after-epochs N`
ends an invocation N epochs on, `--stop-at-epoch N` at epoch N: with `--resume`, a run in parts.
Runs under `torchrun` as DDP (gloo on CPU). Epoch-seeded randomness makes a resumed run equal to an
uninterrupted one.

On a CUDA GPU (`--device auto` picks one) the data sit on the GPU and are augmented there, bf16
autocast is on and `--compile` compiles the model; checkpoints hold CPU tensors either way, so a run
started on a GPU resumes or installs on a CPU. On a CPU, bf16 is used only where it is native.
"""
import json
import os
import sys

import torch.distributed as dist

from ..errors import command
from ..util import cli
from .config import TrainConfig
from .loop import train
from .setup import resolve_device
from .weights import install, print_weights, save_weights


@command
def main(argv=None) -> int:
    cfg = cli.parse_config("train", __doc__, TrainConfig, argv)
    try:
        if cfg.export_only or cfg.install:
            print_weights(install(cfg.out, cfg.data, cfg.install_dir, cfg.limit_test) if cfg.install
                          else save_weights(cfg.out))
            return 0
        if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
            dist.init_process_group("nccl" if resolve_device(cfg.device).type == "cuda" else "gloo")
        metrics = train(cfg)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
