"""A loaded model with its own preprocessing and labels, shared per process and safe across threads."""
import dataclasses
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
from .loading import load_local_hf, load_module, weights_status
from .registry import ModelSpec, get_spec

__all__ = ["Prediction", "Classifier", "Comparison", "compare", "get_classifier", "default_pair",
           "build_preprocess", "FastPathUnavailable", "FAST_FILE"]

FAST_FILE = "model-int8-x86.pt2"  # vitspace's fastest CPU path (vitspace.compress builds it)


class FastPathUnavailable(RuntimeError):
    """The fast int8 path cannot be built or run here; the message says why."""

# All inference runs on one thread. OpenMP thread teams started by several calling threads (a server's
# workers) spin against each other: the embedded pair took 20-30 ms per request instead of 12.
_inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitspace-inference")


def _on_inference_thread(fn, *args):
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
    weights: str = ""                   # where the weights came from: embedded, cache, hub, local, random
    fast: bool = False                  # runs vitspace's fast int8 CPU path instead of the eager model

    @property
    def name(self) -> str:
        name = self.spec.name if self.pretrained else f"{self.spec.name} (architecture only, random weights)"
        return f"{name} [fast int8]" if self.fast else name

    def logits(self, images: list[Image.Image]) -> torch.Tensor:
        """Preprocess and forward on vitspace's inference thread; safe to call from any thread."""
        return _on_inference_thread(self._logits, images)

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
        scores, idx = _on_inference_thread(self._topk, image, top_k)
        latency = (time.perf_counter() - t0) * 1000
        return Prediction(self.name, [(self.labels[i], round(s, 6)) for s, i in zip(scores, idx)], round(latency, 2))


def model_labels(spec: ModelSpec, module: nn.Module) -> list[str]:
    """Label names: the registry's, else the weights' config (id2label)."""
    if spec.labels:
        return list(spec.labels)
    id2label = module.config.id2label
    return [id2label[i] for i in range(len(id2label))]


def _load(name: str, pretrained: bool) -> Classifier:
    if Path(name).is_dir():
        module, processor = load_local_hf(name)
        spec = ModelSpec(str(name), "local", "local", build=lambda: module, description=f"local model at {name}")
        return Classifier(spec, module, build_preprocess(spec, processor), model_labels(spec, module), True, "local")
    spec = get_spec(name)
    weights = weights_status(spec) if pretrained else "random"
    module = load_module(spec, pretrained=pretrained)
    processor = _hub_processor(spec, weights) if pretrained and spec.source == "hub" else None
    return Classifier(spec, module, build_preprocess(spec, processor), model_labels(spec, module), pretrained, weights)


def _fast(clf: Classifier) -> Classifier:
    """The same classifier on the fast CPU path: the int8 x86 program, built once (cached) and compiled."""
    from . import compress as vc
    root = vc.default_builds()
    config = vc.CompressConfig(clf.spec.name, root, (FAST_FILE,), pretrained=clf.pretrained, limit=16)
    out, manifest = vc.compress_cached(config, root)
    entry = manifest.files[0]
    if entry.status != "ok":
        raise FastPathUnavailable(f"the fast int8 path is not available for {clf.spec.name} here: {entry.reason}")
    run = vc.VARIANTS[FAST_FILE].load(out / FAST_FILE)
    fast = dataclasses.replace(clf, module=run, fast=True)
    fast._logits([Image.new("RGB", (clf.spec.input_size,) * 2)])  # compiles now, not in the first request
    return fast


def _hub_processor(spec: ModelSpec, weights: str):
    """The repository's own image processor; the registry's copy of its settings if it cannot be fetched."""
    from transformers import AutoImageProcessor
    try:
        return AutoImageProcessor.from_pretrained(spec.repo_id, local_files_only=weights == "cache")
    except OSError:
        return None


_cache: dict[tuple[str, bool, bool], Classifier] = {}
_locks: dict[tuple[str, bool, bool], threading.Lock] = {}
_guard = threading.Lock()


def get_classifier(name: str, pretrained: bool = True, fast: bool = False) -> Classifier:
    """The classifier for a registry name (or a local transformers folder), loaded once per process.

    fast=True runs it on vitspace's fastest CPU path (int8 for x86, compiled by inductor).
    """
    key = (name, pretrained, fast)
    if key in _cache:
        return _cache[key]
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # concurrent first requests load once; other models load in parallel
        if key not in _cache:
            _cache[key] = _fast(get_classifier(name, pretrained)) if fast else _load(name, pretrained)
    return _cache[key]


def default_pair() -> tuple[str, str]:
    """The Hub ViT/DeiT pair when its weights can be had, else the embedded CIFAR-10 pair."""
    hub = ("vit-base", "deit-base")
    if all(weights_status(get_spec(n)) != "unavailable" for n in hub):
        return hub
    return "vit-tiny-cifar10", "deit-tiny-cifar10"


@dataclass
class Comparison:
    predictions: list[Prediction]

    @property
    def agree(self) -> bool:
        return len({p.label for p in self.predictions}) == 1


def compare(image, models: list[str], top_k: int = 5, pretrained: bool = True, fast: bool = False) -> Comparison:
    """The same image through several models; the image is decoded once."""
    image = load_image(image)
    return Comparison([get_classifier(m, pretrained, fast).predict(image, top_k) for m in models])
