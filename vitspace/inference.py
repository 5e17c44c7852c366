"""A loaded model with its own preprocessing and labels, shared per process and safe across threads."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn

from .images import load_image
from .keyed import Memo
from .labels import model_labels
from .loading import load_local_hf, load_module, weights_origin
from .registry import ModelSpec, get_spec

__all__ = ["on_inference_thread", "Prediction", "Classifier", "Comparison", "compare_classifiers", "get_classifier",
           "default_pair", "build_preprocess"]


# All inference runs on one thread. OpenMP thread teams started by several calling threads (a server's
# workers) spin against each other: the embedded pair took 20-30 ms per request instead of 12.
_inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitspace-inference")


def on_inference_thread(fn, *args):
    """fn(*args) on vitspace's one inference thread (at once when already there)."""
    if threading.current_thread().name.startswith("vitspace-inference"):
        return fn(*args)
    return _inference.submit(fn, *args).result()


@dataclass
class Prediction:
    model: str
    topk: list[tuple[str, float]]
    latency_ms: float

    @property
    def label(self) -> str:
        return self.topk[0][0]

    def to_dict(self) -> dict:
        return {"model": self.model, "topk": [{"label": label, "score": s} for label, s in self.topk],
                "latency_ms": self.latency_ms}


def build_preprocess(spec: ModelSpec, processor=None) -> Callable[[list[Image.Image]], torch.Tensor]:
    """RGB images -> pixel batch, from the model's own processor (Hub) or timm data config (embedded)."""
    if processor is None and spec.processor:
        import transformers
        kwargs = dict(spec.processor)
        processor = getattr(transformers, kwargs.pop("class"))(**kwargs)
    if processor is not None:
        return lambda images: processor(images=images, return_tensors="pt")["pixel_values"]
    from timm.data import create_transform, resolve_data_config
    transform = create_transform(**resolve_data_config(pretrained_cfg=spec.data_cfg))
    return lambda images: torch.stack([transform(im) for im in images])


@dataclass
class Classifier:
    spec: ModelSpec
    module: nn.Module
    preprocess: Callable[[list[Image.Image]], torch.Tensor]
    labels: list[str]
    pretrained: bool = True
    origin: str = ""                    # where the weights came from: embedded, cache, hub, local, random
    fast: bool = False                  # runs vitspace's fast int8 CPU path instead of the eager model

    @property
    def name(self) -> str:
        name = self.spec.name if self.pretrained else f"{self.spec.name} (architecture only, random weights)"
        return f"{name} [fast int8]" if self.fast else name

    def logits(self, images: list[Image.Image]) -> torch.Tensor:
        """Preprocess and forward on vitspace's inference thread; safe to call from any thread."""
        return on_inference_thread(self._logits, images)

    @torch.inference_mode()
    def _logits(self, images: list[Image.Image]) -> torch.Tensor:
        return self.module(self.preprocess(images)).float()

    def _topk(self, image: Image.Image, k: int) -> tuple[list[float], list[int]]:
        scores, idx = self._logits([image]).softmax(-1)[0].topk(min(k, len(self.labels)))
        return scores.tolist(), idx.tolist()

    def predict(self, image, top_k: int = 5) -> Prediction:
        """Top-k labels with probabilities for one image (path, bytes, array or PIL image)."""
        image = load_image(image)
        t0 = time.perf_counter()
        scores, idx = on_inference_thread(self._topk, image, top_k)
        latency = (time.perf_counter() - t0) * 1000
        return Prediction(self.name, [(self.labels[i], round(s, 6)) for s, i in zip(scores, idx)], round(latency, 2))


def _load(name: str, pretrained: bool) -> Classifier:
    if Path(name).is_dir():
        module, processor = load_local_hf(name)
        spec = ModelSpec(str(name), "local", "local", build=lambda: module, description=f"local model at {name}")
        return Classifier(spec, module, build_preprocess(spec, processor), model_labels(spec, module), True, "local")
    spec = get_spec(name)
    origin = weights_origin(spec) if pretrained else "random"
    module = load_module(spec, pretrained=pretrained)
    processor = _hub_processor(spec, origin) if pretrained and spec.source == "hub" else None
    return Classifier(spec, module, build_preprocess(spec, processor), model_labels(spec, module), pretrained, origin)


def _hub_processor(spec: ModelSpec, origin: str):
    """The repository's own image processor; the registry's copy of its settings if it cannot be fetched."""
    from transformers import AutoImageProcessor
    try:
        return AutoImageProcessor.from_pretrained(spec.repo_id, local_files_only=origin == "cache")
    except OSError:
        return None


_loaded = Memo()


def get_classifier(name: str, pretrained: bool = True) -> Classifier:
    """The classifier for a registry name (or a local transformers folder), loaded once per process;
    concurrent first requests load it once, other models load in parallel."""
    return _loaded.get((name, pretrained), lambda: _load(name, pretrained))


def default_pair() -> tuple[str, str]:
    """The Hub ViT/DeiT pair when its weights can be had, else the embedded CIFAR-10 pair."""
    hub = ("vit-base", "deit-base")
    if all(weights_origin(get_spec(n)) != "unavailable" for n in hub):
        return hub
    return "vit-tiny-cifar10", "deit-tiny-cifar10"


@dataclass
class Comparison:
    predictions: list[Prediction]

    @property
    def agree(self) -> bool:
        return len({p.label for p in self.predictions}) == 1


def compare_classifiers(image, classifiers: list[Classifier], top_k: int = 5) -> Comparison:
    """The same image through several classifiers; the image is decoded once."""
    image = load_image(image)
    return Comparison([clf.predict(image, top_k) for clf in classifiers])
