"""Top-1 and top-5 accuracy on an image folder: `python -m vitspace.classify.evaluate --model NAME --data DIR [--json]`.

DIR holds one folder per class (`DIR/<class>/*`); class folders are matched to the model's labels by
name (case-insensitive; any comma-separated synonym of an ImageNet label matches).
"""
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..data.folders import list_image_folder
from ..data.images import load_image
from ..errors import ImageError
from ..models.labels import class_targets
from .classifier import Classifier

__all__ = ["Accuracy", "evaluate"]


@dataclass
class Accuracy:
    """A model's top-1 and top-5 accuracy (fractions, 0 to 1) on `n` images."""
    model: str
    n: int
    top1: float
    top5: float


def _load(path, root):
    try:
        return load_image(path)
    except ImageError as e:  # name the bad file: a data set may hold thousands
        raise ImageError(f"{path.relative_to(root)}: {e}") from None


def evaluate(clf: Classifier, data: str, batch_size: int = 64, limit: int | None = None,
             progress: bool = True) -> Accuracy:
    """Top-1 and top-5 accuracy of a classifier on an image folder.

    Args:
        clf: the classifier; its labels must name every class folder.
        data: ImageFolder root, `DATA/<class>/*`.
        batch_size: images per forward pass.
        limit: score at most this many images, evenly spaced over the sorted folder (so spread over classes).
        progress: show a progress bar.

    Returns:
        The accuracy, with the number of images scored.

    Raises:
        FileNotFoundError: DATA is not a folder.
        ConfigError: DATA holds no class folders or no images, or a class folder is not one of the labels.
        ImageError: an image cannot be decoded (named relative to DATA).
    """
    items, classes = list_image_folder(data)
    if limit:
        items = items[::max(1, len(items) // limit)][:limit]  # spread over classes
    targets = torch.tensor(class_targets(classes, clf.labels, clf.name))
    top1 = top5 = n = 0
    for i in tqdm(range(0, len(items), batch_size), desc=f"evaluate {clf.name}", disable=not progress, unit="batch"):
        batch = items[i:i + batch_size]
        images = [_load(p, data) for p, _ in batch]
        y = targets[torch.tensor([c for _, c in batch])]
        top = clf.logits(images).topk(min(5, len(clf.labels)), dim=1).indices
        top1 += (top[:, 0] == y).sum().item()
        top5 += (top == y[:, None]).any(1).sum().item()
        n += len(batch)
    return Accuracy(clf.name, n, top1 / n, top5 / n)
