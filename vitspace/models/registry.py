"""Models by name, in the manner of timm's `create_model` and pretrained configs.

Each entry is a ModelSpec: how to build the architecture offline (random weights), where its
weights live (the Hugging Face Hub or this package) and how its inputs are preprocessed.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from ..data.folders import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from ..errors import UnknownModelError
from . import cifar as nets
from .airbench import AirbenchCifar
from .hf import build_hf_architecture

__all__ = ["ModelSpec", "register", "list_models", "get_spec", "WEIGHTS_DIR"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its architecture, where its weights live, and how its inputs are preprocessed."""
    name: str
    family: str                             # "vit", "deit" or "cnn"
    source: str                             # "hub" (Hugging Face), "local" (a folder) or "embedded" (this package)
    build: Callable[[], nn.Module]          # the architecture, random weights, no network
    description: str = ""
    repo_id: str | None = None              # Hub repository of the weights
    processor: dict = field(default_factory=dict)   # Hub models: image processor class and kwargs
    data_cfg: dict = field(default_factory=dict)    # embedded models: timm data config
    labels: tuple[str, ...] = ()            # empty: taken from the weights' config
    input_size: int = 224
    teacher: str | None = None              # registry name of the model it was distilled from, if registered
    library: str = "transformers"           # what builds and loads it: transformers, timm or vitspace (embedded)
    revision: str | None = None             # Hub models: branch, tag or commit; None: main
    folder: Path | None = None              # local models: the folder with config.json and the weights
    preprocessing: str = ""                 # where the preprocessing settings came from, in words
    license: str | None = None              # as the source declares it

    @property
    def weights_file(self) -> Path:
        """Where an embedded model's weights are: WEIGHTS_DIR/<name>.safetensors."""
        return WEIGHTS_DIR / f"{self.name}.safetensors"


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry under its name, replacing one of the same name; returns the spec."""
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """The registered model names, in the order they were registered."""
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registry's spec of a model.

    Raises:
        UnknownModelError: the name is not registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}") from None


# --- Hugging Face Hub models -------------------------------------------------------------------

def _hf(kind: str, **config) -> Callable[[], nn.Module]:
    return lambda: build_hf_architecture(kind, config)


_HUB = {"license": "apache-2.0", "preprocessing": "the repository's preprocessor_config.json"}
_VIT_PROC = {"class": "ViTImageProcessor", "size": {"height": 224, "width": 224}, "resample": 2,
             "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
_DEIT_PROC = {"class": "DeiTImageProcessor", "size": {"height": 256, "width": 256}, "resample": 3,
              "crop_size": {"height": 224, "width": 224}, "do_center_crop": True,
              "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD)}

register(ModelSpec("vit-base", "vit", "hub", _hf("vit", hidden_size=768, num_hidden_layers=12, num_attention_heads=12),
                   "ViT-B/16, ImageNet-21k pre-trained, ImageNet-1k fine-tuned", "google/vit-base-patch16-224",
                   processor=_VIT_PROC, **_HUB))
for _size, (_dim, _heads) in {"base": (768, 12), "small": (384, 6), "tiny": (192, 3)}.items():
    register(ModelSpec(f"deit-{_size}", "deit", "hub",
                       _hf("deit", hidden_size=_dim, num_hidden_layers=12, num_attention_heads=_heads,
                           intermediate_size=4 * _dim),
                       f"DeiT-{_size[0].upper()}/16 distilled from a RegNet teacher on ImageNet-1k",
                       f"facebook/deit-{_size}-distilled-patch16-224", processor=_DEIT_PROC, **_HUB))

# --- Embedded CIFAR-10 models (trained by `python -m vitspace.train`, airbench's by `.train.airbench`) -----

_EMBEDDED = {"library": "vitspace", "license": "apache-2.0", "preprocessing": "timm data config (CIFAR-10 statistics)"}
_CIFAR_CFG = {"input_size": (3, 32, 32), "mean": CIFAR10_MEAN, "std": CIFAR10_STD, "interpolation": "bicubic",
              "crop_pct": 1.0, "crop_mode": "center"}

register(ModelSpec("vit-tiny-cifar10", "vit", "embedded", nets.vit_student,
                   "ViT student (class token only) trained on CIFAR-10 without a teacher",
                   data_cfg=_CIFAR_CFG, labels=CIFAR10_CLASSES, input_size=32, **_EMBEDDED))
register(ModelSpec("deit-tiny-cifar10", "deit", "embedded", nets.deit_student,
                   "DeiT student (class + distillation token) distilled on CIFAR-10 from resnet9-cifar10",
                   data_cfg=_CIFAR_CFG, labels=CIFAR10_CLASSES, input_size=32, teacher="resnet9-cifar10", **_EMBEDDED))
register(ModelSpec("resnet9-cifar10", "cnn", "embedded", lambda: nets.ResNetCifar(width=48, flip_tta=True),
                   "ResNet-9 style convnet, the distillation teacher, trained on CIFAR-10 (flip TTA at inference)",
                   data_cfg=_CIFAR_CFG, labels=CIFAR10_CLASSES, input_size=32, **_EMBEDDED))
register(ModelSpec("airbench-cifar10", "cnn", "embedded", AirbenchCifar,
                   "airbench-style convnet (Keller Jordan's airbench94), the stronger distillation teacher, trained on "
                   "CIFAR-10 by `python -m vitspace.train.airbench` (mirror and translate TTA at inference)",
                   data_cfg=_CIFAR_CFG, labels=CIFAR10_CLASSES, input_size=32, **_EMBEDDED))
