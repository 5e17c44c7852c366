"""The example images that fit a pair of models: CIFAR-10 test images for models that take CIFAR-sized images,
photos at their own resolution for the others (ImageNet's, users' own)."""
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from ..errors import VitspaceError
from ..models.resolve import resolve

__all__ = ["EXAMPLES_DIR", "PHOTOS_DIR", "SMALL_INPUT", "ExampleSet", "example_set"]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"  # one CIFAR-10 test image per class
PHOTOS_DIR = EXAMPLES_DIR / "photos"  # photos whose licence allows shipping them (their README says whose)
SMALL_INPUT = 64  # a model that takes images this small or smaller was made for CIFAR-sized images


class ExampleSet(NamedTuple):
    label: str
    paths: list[Path]


def _images(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def example_set(models: Sequence[str]) -> ExampleSet:
    """The examples for these models: the CIFAR-10 test images when every model takes CIFAR-sized images, the
    photos when none does, both (the photos first) for a mixed pair. A model that cannot be resolved now (a typo,
    offline) counts as neither; with none resolved, both sets."""
    small = set()
    for name in filter(str.strip, models):  # an emptied box names none
        try:
            small.add(resolve(name).input_size <= SMALL_INPUT)
        except VitspaceError:
            pass
    photos, cifar = (_images(PHOTOS_DIR), "photos"), (_images(EXAMPLES_DIR), "CIFAR-10 test images")
    chosen = [cifar] if small == {True} else [photos] if small == {False} else [photos, cifar]
    label = "Examples: " + " and ".join(what for _, what in chosen)
    return ExampleSet(label, [p for paths, _ in chosen for p in paths])
