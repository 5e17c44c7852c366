"""Training images/s: vitspace.train's loop against a plain PyTorch loop over the same model and data.

    python benchmarks/train_throughput.py --data DIR [--model vit-tiny-cifar10] [--images 4096]

The plain loop is the textbook one: torchvision ImageFolder + DataLoader with per-image transforms
(random crop with padding, flip, normalise), fp32, timm's default attention, AdamW.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vitspace.data.folders import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402
from vitspace.models.factory import create_model  # noqa: E402
from vitspace.train.config import TrainConfig  # noqa: E402
from vitspace.train.loop import train  # noqa: E402


def plain_loop(model_name: str, data: str, images: int, batch_size: int, workers: int) -> float:
    from torchvision import datasets
    from torchvision import transforms as T
    tf = T.Compose([T.RandomCrop(32, padding=4, padding_mode="reflect"), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    ds = datasets.ImageFolder(str(Path(data) / "train"), transform=tf)
    ds = torch.utils.data.Subset(ds, torch.randperm(len(ds))[:images].tolist())
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         drop_last=True)
    model = create_model(model_name, pretrained=False).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    seen, t0 = 0, time.perf_counter()
    for x, y in loader:
        out = model(x)
        loss = loss_fn(out[0] if isinstance(out, tuple) else out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(y)
    return seen / (time.perf_counter() - t0)


def vitspace_loop(model_name: str, data: str, images: int, batch_size: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(model=model_name, data=data, out=out, epochs=1, batch_size=batch_size,
                          limit_train=images, limit_test=batch_size, warmup_epochs=0.5, device="cpu")
        train(cfg)
        log = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    return log[-1]["images_per_s"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="ImageFolder root with train/")
    p.add_argument("--model", default="vit-tiny-cifar10")
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=1, help="DataLoader workers of the plain loop")
    args = p.parse_args()
    ours = vitspace_loop(args.model, args.data, args.images, args.batch_size)
    plain = plain_loop(args.model, args.data, args.images, args.batch_size, args.workers)
    print(json.dumps({"model": args.model, "threads": torch.get_num_threads(), "images": args.images,
                      "vitspace_images_per_s": round(ours, 1), "plain_images_per_s": round(plain, 1),
                      "ratio": round(ours / plain, 2)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
