"""A loaded model with its own preprocessing and labels, shared per process and safe across threads."""
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import torch
from PIL import Image
from torch import nn

from ..data.images import load_image
from ..models.labels import model_labels
from ..models.loading import load_module, weights_origin
from ..models.registry import ModelSpec, get_spec
from ..models.resolve import resolve
from ..util.once import Memo
from .batching import Batcher

__all__ = ["on_inference_thread", "batcher", "batched_logits", "Prediction", "Classifier",
           "Comparison", "compare_classifiers", "get_classifier", "default_pair", "build_preprocess", "MAX_BATCH"]


# All inference runs on one thread. OpenMP thread teams started by several calling threads (a server's
# workers) spin against each other: the embedded pair took 20-30 ms per request instead of 12.
_inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitspace-inference")


def on_inference_thread(fn, *args):
    """fn(*args) on vitspace's one inference thread (at once when already there)."""
    if threading.current_thread().name.startswith("vitspace-inference"):
        return fn(*args)
    return _inference.submit(fn, *args).result()


MAX_BATCH = 8   # images per shared forward: most of batching's gain on CPU; base models keep each layer's attention


def batcher(run: Callable[["Classifier", list], list]) -> Batcher:
    """Batches per classifier on the inference thread; a fast (compiled, fixed-shape) one runs one image at a time."""
    return Batcher(run, _inference.submit, lambda clf: 1 if clf.fast else MAX_BATCH)


@dataclass
class Prediction:
    """One image's top-k answer from one classifier: (label, probability) pairs, most probable first."""
    model: str
    topk: list[tuple[str, float]]
    latency_ms: float                   # the forward's time, for all the images it ran at once
    batch: int = 1                      # how many images shared that forward (concurrent requests)
    runtime: str = ""                   # what answered, where the caller knows: "ONNX Runtime (fp32, ...)"

    @property
    def label(self) -> str:
        """The top-1 label."""
        return self.topk[0][0]

    def to_dict(self) -> dict:
        """The prediction as JSON data (model, topk, latency_ms; not batch)."""
        return {"model": self.model, "topk": [{"label": label, "score": s} for label, s in self.topk],
                "latency_ms": self.latency_ms}


def build_preprocess(spec: ModelSpec, processor=None) -> Callable[[list[Image.Image]], torch.Tensor]:
    """RGB images -> pixel batch, from the model's own processor (Hub) or timm data config (embedded)."""
    if processor is None and spec.processor:
        import transformers
        kwargs = dict(spec.processor)
        processor = getattr(transformers, kwargs.pop("class")).from_dict(kwargs)
    if processor is not None:
        return lambda images: processor(images=images, return_tensors="pt")["pixel_values"]
    from timm.data import create_transform, resolve_data_config
    transform = create_transform(**resolve_data_config(pretrained_cfg=spec.data_cfg))
    return lambda images: torch.stack([transform(im) for im in images])


@dataclass(eq=False)  # one per loaded model, and a batch key: compared by identity
class Classifier:
    """A loaded model with its preprocessing (RGB images -> pixel batch) and labels; `get_classifier` makes one.

    Runs on vitspace's one inference thread, so any thread may call it.
    """
    spec: ModelSpec
    module: nn.Module
    preprocess: Callable[[list[Image.Image]], torch.Tensor]
    labels: list[str]
    pretrained: bool = True
    origin: str = ""                    # where the weights came from: embedded, cache, hub, local, random
    fast: bool = False                  # runs the fast CPU path (a file that passed the gate) instead

    @property
    def name(self) -> str:
        """The model's name, marked when its weights are random or it runs the fast path."""
        name = self.spec.name if self.pretrained else f"{self.spec.name} (architecture only, random weights)"
        return f"{name} [fast]" if self.fast else name

    def logits(self, images: list[Image.Image]) -> torch.Tensor:
        """Preprocess and forward on vitspace's inference thread; safe to call from any thread."""
        return on_inference_thread(self._logits, images)

    @torch.inference_mode()
    def _logits(self, images: list[Image.Image]) -> torch.Tensor:
        return self.module(self.preprocess(images)).float()

    def prediction(self, logits: torch.Tensor, top_k: int, latency_ms: float, batch: int = 1,
                   runtime: str = "") -> Prediction:
        """Top-k of one image's logits (num_labels,), with the time and size of the batch it ran in, and what ran it."""
        scores, idx = logits.float().softmax(-1).topk(min(top_k, len(self.labels)))
        return Prediction(self.name, [(self.labels[i], round(s, 6)) for s, i in zip(scores.tolist(), idx.tolist())],
                          latency_ms, batch, runtime)

    def predict(self, image, top_k: int = 5) -> Prediction:
        """Top-k labels with probabilities for one image (path, bytes, array or PIL image)."""
        b = batched_logits(self, load_image(image)).result()
        return self.prediction(b.output, top_k, b.ms, b.size)


_logit_batches = batcher(lambda clf, images: list(clf._logits(images)))


def batched_logits(clf: Classifier, image: Image.Image) -> Future:
    """A future of the image's logits (num_labels,), from a forward it may share with other callers' images."""
    return _logit_batches.submit(clf, image)


def _load(name: str, pretrained: bool) -> Classifier:
    spec = resolve(name)
    origin = weights_origin(spec) if pretrained else "random"
    module = load_module(spec, pretrained=pretrained)
    processor = _hub_processor(spec, origin) if pretrained and spec.source == "hub" else None
    return Classifier(spec, module, build_preprocess(spec, processor), model_labels(spec, module), pretrained, origin)


def _hub_processor(spec: ModelSpec, origin: str):
    """The repository's own image processor; the spec's copy of its settings if it cannot be fetched."""
    if spec.library != "transformers":
        return None
    from transformers import AutoImageProcessor
    try:
        return AutoImageProcessor.from_pretrained(spec.repo_id, revision=spec.revision,
                                                  local_files_only=origin == "cache")
    except (OSError, ValueError):
        return None


_loaded = Memo()


def get_classifier(name: str, pretrained: bool = True) -> Classifier:
    """The classifier of a model (a registered name, a Hub id or a folder), loaded once per process;
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
    """Several classifiers' predictions for the same image, in the order they were given."""
    predictions: list[Prediction]

    @property
    def agree(self) -> bool:
        """Every classifier gave the same top-1 label."""
        return len({p.label for p in self.predictions}) == 1


def compare_classifiers(image, classifiers: list[Classifier], top_k: int = 5) -> Comparison:
    """The same image through several classifiers; the image is decoded once, every model queued at once."""
    image = load_image(image)
    futures = [batched_logits(clf, image) for clf in classifiers]
    return Comparison([clf.prediction(b.output, top_k, b.ms, b.size)
                       for clf, b in zip(classifiers, (f.result() for f in futures))])
