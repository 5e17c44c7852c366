"""Models by name, built: the registry says what a model is, the factory makes it (as timm's
`_registry.py` and `_factory.py`)."""
from dataclasses import dataclass

import torch
from torch import nn

from .labels import model_labels
from .loading import load_module, weights_origin
from .resolve import resolve

__all__ = ["create_model", "ModelInfo", "model_info"]


def create_model(name: str, pretrained: bool = True, seed: int | None = 0) -> nn.Module:
    """The model as a module mapping preprocessed pixels (B, 3, H, W) to logits (B, num_labels).

    pretrained=False builds the architecture offline with random weights, drawn from `seed` (None: from
    torch's global generator, as a training run seeds it).
    """
    return load_module(resolve(name), pretrained=pretrained, seed=seed)


@dataclass
class ModelInfo:
    """What a registered model is, without loading its weights: the registry's entry, its parameter and label
    counts, and where its weights would come from."""
    name: str
    family: str
    source: str                 # hub or embedded
    repo_id: str | None
    params: int
    input_size: int
    num_labels: int
    origin: str                 # where the weights would come from now: embedded, cache, hub or unavailable
    description: str

    @property
    def available(self) -> bool:
        """Whether its weights can be had here."""
        return self.origin != "unavailable"


def model_info(name: str) -> ModelInfo:
    """A registered model's info; the architecture is built on the meta device (no memory, no weights).

    Raises:
        UnknownModelError: the name is not registered.
    """
    spec = resolve(name)
    with torch.device("meta"):  # shapes only: no memory, no random init
        model = spec.build()
    return ModelInfo(name, spec.family, spec.source, spec.repo_id, sum(p.numel() for p in model.parameters()),
                     spec.input_size, len(model_labels(spec, model)), weights_origin(spec), spec.description)
