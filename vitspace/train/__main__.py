"""Train the embedded CIFAR-10 models: a convnet teacher, a ViT student and a DeiT student.

    python -m vitspace.train --model resnet9-cifar10 --data DIR --out runs/teacher
    python -m vitspace.train --model vit-tiny-cifar10 --data DIR --out runs/vit
    python -m vitspace.train --model deit-tiny-cifar10 --data DIR --out runs/deit \\
        --teacher runs/teacher/model.safetensors --distillation hard

Each epoch is checkpointed (`OUT/last.pt`, `--resume` continues exactly), logged to `OUT/log.jsonl`,
and the final weights land in `OUT/model.safetensors` with `OUT/model.json`. Runs under `torchrun`
as DDP (gloo on CPU). Epoch-seeded randomness makes a resumed run equal to an uninterrupted one.

On a CUDA GPU (`--device auto` picks one) the data sit on the GPU and are augmented there, bf16
autocast is on and `--compile` compiles the model; checkpoints hold CPU tensors either way, so a run
started on a GPU resumes or installs on a CPU. On a CPU, bf16 is used only where it is native.
"""
import argparse
import dataclasses
import json
import os
import sys

import torch.distributed as dist

from ..errors import command
from ..util import cli
from .loop import TrainConfig, _device, export, install, train


def _parse(argv=None) -> TrainConfig:
    p = cli.parser("train", __doc__)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if "bool" in str(f.type):  # bool, or bool | str for "auto"
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {int: int, float: float}.get(f.type if isinstance(f.type, type) else None, None)
            kind = kind or (int if "int" in str(f.type) else float if "float" in str(f.type) else str)
            p.add_argument(flag, type=kind, default=f.default)
    return TrainConfig(**vars(p.parse_args(argv)))


@command
def main(argv=None) -> int:
    cfg = _parse(argv)
    try:
        if cfg.export_only or cfg.install:
            path = install(cfg.out, cfg.data, cfg.install_dir, cfg.limit_test) if cfg.install else export(cfg.out)
            meta = json.loads(path.with_suffix(".json").read_text())
            print(path)
            print(json.dumps({"model": meta["model"], **meta["metrics"], "evaluate": meta.get("evaluate")}))
            return 0
        if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
            dist.init_process_group("nccl" if _device(cfg.device).type == "cuda" else "gloo")
        metrics = train(cfg)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
