"""Image-folder data sets held in memory as uint8 tensors, and CIFAR-10 fetched when online.

CIFAR-10 is tiny (150 MB as uint8), so training decodes the JPEGs once, caches the tensors and
augments whole batches in torch instead of running a per-image DataLoader.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError
from ..util.atomic import staged
from ..util.hashing import config_key, stat_identity
from ..util.paths import cache_dir

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "TensorDataset", "list_image_folder",
    "load_image_folder", "load_split", "augment_batch",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


@dataclass
class TensorDataset:
    """Images and their class indices in memory, with the class names the indices refer to."""
    images: torch.Tensor    # (N, 3, H, W) uint8
    labels: torch.Tensor    # (N,) int64
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int, seed: int = 0) -> "TensorDataset":
        """A class-balanced-in-expectation random subset of n examples."""
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return TensorDataset(self.images[idx], self.labels[idx], self.classes)

    def to(self, device: str | torch.device) -> "TensorDataset":
        """The same data on `device` (CIFAR-10's 150 MB fit on any GPU: no loader, no host copies)."""
        return TensorDataset(self.images.to(device), self.labels.to(device), self.classes)


def list_image_folder(root: str | Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """(path, class index) pairs of an ImageFolder `root/<class>/*`, classes sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir()))
    if not classes:
        raise ConfigError(f"{root} holds no class folders; expected {root}/<class>/<image>")
    items = [(p, i) for i, c in enumerate(classes) for p in sorted((root / c).iterdir())
             if p.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise ConfigError(f"{root} holds no images")
    return items, classes


def _folder_key(items: list[tuple[Path, int]]) -> str:
    return config_key([(stat_identity(p), i) for p, i in items])


def load_image_folder(root: str | Path, size: int = 32, cache: bool = True) -> TensorDataset:
    """Decode an ImageFolder into memory (RGB, resized to size x size), cached by content key."""
    items, classes = list_image_folder(root)
    path = cache_dir() / f"folder-{_folder_key(items)}-{size}.npz"
    if cache and path.exists():
        z = np.load(path)
        return TensorDataset(torch.from_numpy(z["x"]), torch.from_numpy(z["y"]), classes)
    x = np.empty((len(items), size, size, 3), dtype=np.uint8)
    for k, (p, _) in enumerate(items):
        with Image.open(p) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BICUBIC)
            x[k] = np.asarray(im)
    y = np.array([i for _, i in items], dtype=np.int64)
    x = x.transpose(0, 3, 1, 2).copy()
    if cache:
        with staged(path) as tmp:
            np.savez(tmp, x=x, y=y)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y), classes)


def _fetch_cifar10(train: bool) -> TensorDataset:
    from torchvision.datasets import CIFAR10  # downloads from the CIFAR-10 site
    ds = CIFAR10(root=str(cache_dir() / "cifar10-download"), train=train, download=True)
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return TensorDataset(x, torch.tensor(ds.targets), tuple(ds.classes))


def load_split(data: str | Path | None, split: str) -> TensorDataset:
    """`split` ("train" or "test") of an ImageFolder root `data`, or of CIFAR-10 fetched when `data` is None."""
    if data is None:
        return _fetch_cifar10(train=split == "train")
    return load_image_folder(Path(data) / split)


def augment_batch(x: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random translation (reflect-padded crop) and horizontal flip of a uint8 batch (B, 3, H, W); float out.

    Runs on x's device; the generator must be on it too.
    """
    b, _, h, w = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x.float(), (pad,) * 4, mode="reflect").permute(0, 2, 3, 1)  # (B, H', W', 3)
    dy = torch.randint(0, 2 * pad + 1, (b, 1, 1), generator=generator, device=dev)
    dx = torch.randint(0, 2 * pad + 1, (b, 1, 1), generator=generator, device=dev)
    flip = torch.rand(b, 1, 1, generator=generator, device=dev) < 0.5
    cols = torch.arange(w, device=dev).view(1, 1, w)
    cols = torch.where(flip, w - 1 - cols, cols)
    out = padded[torch.arange(b, device=dev).view(b, 1, 1), dy + torch.arange(h, device=dev).view(1, h, 1), dx + cols]
    return out.permute(0, 3, 1, 2).contiguous()
