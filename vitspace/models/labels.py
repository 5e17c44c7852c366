"""Label names of a model, and the matching of image-folder classes to them."""
from torch import nn

from ..errors import ConfigError
from .hf import imagenet_labels
from .registry import ModelSpec

__all__ = ["model_labels", "class_targets"]


def model_labels(spec: ModelSpec, module: nn.Module | None = None) -> list[str]:
    """Class names in logit order: the registry's, else the weights' config (id2label), else ImageNet-1k's
    for the Hub models."""
    if spec.labels:
        return list(spec.labels)
    id2label = getattr(getattr(module, "config", None), "id2label", None)
    if id2label:
        return [id2label[i] for i in range(len(id2label))]
    return list(imagenet_labels().values()) if spec.source == "hub" else []


def _label_index(labels: list[str]) -> dict[str, int]:
    index = {}
    for i, label in enumerate(labels):
        for name in [label, *label.split(",")]:
            index.setdefault(name.strip().lower(), i)
    return index


def class_targets(classes: tuple[str, ...], labels: list[str], model: str) -> list[int]:
    """The label index of each class folder, matched by name (case-insensitive; any comma-separated
    synonym of an ImageNet label matches)."""
    index = _label_index(labels)
    missing = [c for c in classes if c.lower() not in index]
    if missing:
        raise ConfigError(f"class folders {missing} are not labels of {model} "
                          f"(its labels include {', '.join(labels[:5])}, ...)")
    return [index[c.lower()] for c in classes]
