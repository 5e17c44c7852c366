"""How faithful a built file is to the eager fp32 model: both run on the same real images."""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..data.folders import IMAGE_SUFFIXES, list_image_folder
from ..data.images import load_image
from ..models.labels import class_targets

__all__ = ["Fidelity", "ProbeImages", "Probe", "folder_images", "example_images", "spread", "EXAMPLES_DIR"]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Fidelity:
    """How a file's answers compare with eager fp32's on the same images: agreement, logit differences, accuracy."""
    images: int
    top1_agreement: float           # fraction of images whose top-1 label matches eager fp32
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    accuracy: float | None = None   # top-1, with labelled images
    max_rel_logit_diff: float | None = None  # per image max |d logit| / max |fp32 logit|, worst image


@dataclass
class ProbeImages:
    """The images fidelity is measured on, with their labels when they have them, and where they came from."""
    images: list[Image.Image]
    targets: list[int] | None       # label indices, with an ImageFolder
    source: str


def spread(items: list, n: int) -> list:
    """At most n items taken evenly across the list (an ImageFolder's listing: across its classes)."""
    return items[::max(1, len(items) // n)][:n]


def folder_images(root: str | Path, labels: list[str], model: str, limit: int) -> ProbeImages:
    """At most `limit` images of an ImageFolder, spread over its classes, with their label indices.

    Args:
        root: ImageFolder root, `ROOT/<class>/*`.
        labels: the model's labels, which must name every class folder.
        model: the model's name, for the error message.
        limit: images at most.

    Raises:
        FileNotFoundError: ROOT is not a folder.
        ConfigError: ROOT holds no class folders or no images, or a class folder is not one of the labels.
    """
    items, classes = list_image_folder(root)
    items = spread(items, limit)
    targets = class_targets(classes, labels, model)
    return ProbeImages([load_image(p) for p, _ in items], [targets[c] for _, c in items], f"eval-data {root}")


def example_images(limit: int) -> ProbeImages:
    """At most `limit` unlabelled images from the repository's examples/; without it (an installed package),
    up to 8 smooth random images, the same on every call."""
    paths = sorted(p for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) \
        if EXAMPLES_DIR.is_dir() else []
    if paths:
        return ProbeImages([load_image(p) for p in spread(paths, limit)], None, "examples")
    rng = np.random.default_rng(0)  # no examples folder (an installed package): smooth random images
    images = [Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((64, 64), Image.BICUBIC)
              for _ in range(min(limit, 8))]
    return ProbeImages(images, None, "synthetic")


@dataclass
class Probe:
    """The fidelity images with the eager fp32 model's answers; measures any runner against them."""
    pixels: list[torch.Tensor]          # each (1, 3, H, W)
    reference: torch.Tensor             # (N, num_labels) eager fp32 logits
    targets: list[int] | None           # label indices, with an ImageFolder
    source: str

    @classmethod
    def of(cls, model: nn.Module, preprocess: Callable, images: ProbeImages) -> "Probe":
        """Preprocess each image and record the eager model's logits for them (batches of 32, no grad)."""
        pixels = [preprocess([im]) for im in images.images]
        with torch.no_grad():
            reference = torch.cat([model(torch.cat(pixels[i:i + 32])).float() for i in range(0, len(pixels), 32)])
        return cls(pixels, reference, images.targets, images.source)

    def accuracy(self, logits: torch.Tensor) -> float | None:
        """Top-1 accuracy of logits (N, num_labels) against the targets; None for unlabelled images."""
        return (logits.argmax(1) == torch.tensor(self.targets)).float().mean().item() if self.targets else None

    def measure(self, run: Callable[[torch.Tensor], torch.Tensor]) -> Fidelity:
        """Run each image through `run`, one at a time, and compare with the eager fp32 answers."""
        with torch.no_grad():
            logits = torch.cat([run(x).float().reshape(1, -1) for x in self.pixels])
        diff = (logits - self.reference).abs()
        agreement = (logits.argmax(1) == self.reference.argmax(1)).float().mean().item()
        relative = (diff.amax(1) / self.reference.abs().amax(1).clamp_min(1e-12)).max().item()
        return Fidelity(len(self.pixels), agreement, diff.max().item(), diff.mean().item(), self.accuracy(logits),
                        relative)
