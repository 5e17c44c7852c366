"""Explanations: an image's attention maps with the answers of DeiT's two heads, and of its teacher.

An explanation's maps come from the forward that gives its logits, run in the model's runtime (`choice`: eager
PyTorch until Classify's fastest exact runtime is chosen); concurrent callers' images share that forward (see
vitspace.classify.batching). A model distilled from one in the registry (`ModelSpec.teacher`)
shows that teacher's answer beside its own.
"""
import functools
import math
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..classify.batching import Batched
from ..classify.classifier import Classifier, Comparison, Prediction, batcher, get_classifier
from ..data.images import load_image
from . import choice
from .attention import check_method, has_attention, require_attention
from .graph import Explained
from .runtimes import EAGER

__all__ = ["HeadAnswer", "Explanation", "Answer", "explain", "predict_explained", "compare_explained", "OFF"]

TOP = 3
OFF = "off"     # Classify's method without maps: the logits only (a ViT's plain forward)


@dataclass
class HeadAnswer:
    """One answer in an explanation, of a head, the whole model or its teacher: its top 3 labels."""
    name: str                           # "class", "distillation", "model" (what the model answers) or a teacher
    top3: list[tuple[str, float]]       # (label, probability), best first

    @property
    def label(self) -> str:
        """The top-1 label."""
        return self.top3[0][0]

    def to_dict(self) -> dict:
        """The answer as JSON data."""
        return {"name": self.name, "top3": [{"label": label, "score": s} for label, s in self.top3]}


@dataclass
class Explanation:
    """One image's attention maps, one per token before the patches, with the answers they explain."""
    model: str
    method: str
    maps: dict[str, np.ndarray]         # token name -> (patch rows, patch columns), >= 0, sums to 1
    logits: np.ndarray                  # (num_labels,), the model's own output
    answer: HeadAnswer                  # DeiT: the average of its two heads
    heads: list[HeadAnswer] = field(default_factory=list)   # DeiT: class and distillation heads
    teacher: HeadAnswer | None = None   # the model it was distilled from (ModelSpec.teacher), if in the registry
    view: Image.Image | None = None     # the input as the model saw it (resized, cropped)
    runtime: str = ""                   # what answered: "ONNX Runtime (fp32, same answers as PyTorch)"

    @property
    def grid(self) -> tuple[int, int]:
        """The maps' shape: (patch rows, patch columns)."""
        return next(iter(self.maps.values())).shape

    @property
    def agree(self) -> bool | None:
        """Whether DeiT's heads pick the same label; None for a single head."""
        return len({h.label for h in self.heads}) == 1 if len(self.heads) > 1 else None

    def to_dict(self, decimals: int = 6) -> dict:
        """The explanation as JSON data, the maps rounded to `decimals` (without the logits and the view)."""
        return {"model": self.model, "method": self.method, "grid": list(self.grid),
                "maps": {t: np.round(m, decimals).tolist() for t, m in self.maps.items()},
                "answer": self.answer.to_dict(), "heads": [h.to_dict() for h in self.heads], "agree": self.agree,
                "teacher": self.teacher.to_dict() if self.teacher else None}


def _head_answer(name: str, logits: torch.Tensor, labels: Sequence[str]) -> HeadAnswer:
    scores, idx = logits.softmax(-1).topk(min(TOP, len(labels)))
    return HeadAnswer(name, [(labels[i], round(s, 6)) for s, i in zip(scores.tolist(), idx.tolist())])


@functools.lru_cache(maxsize=16)
def _has_maps(clf: Classifier) -> bool:
    return has_attention(clf.module)


@functools.lru_cache(maxsize=16)
def _black_white(clf: Classifier) -> tuple[torch.Tensor, torch.Tensor]:
    """A black and a white pixel through the model's own preprocessing, each (3, 1, 1): once per model."""
    return tuple(clf.preprocess([Image.new("RGB", (8, 8), c)])[0, :, :1, :1] for c in ("black", "white"))


def _model_views(clf: Classifier, pixels: torch.Tensor) -> list[Image.Image]:
    """The preprocessed inputs (B, 3, H, W) as images: normalisation undone with the model's own
    preprocessing, read off a black and a white image (any per-channel scale and shift)."""
    black, white = _black_white(clf)
    rgb = ((pixels.float() - black) / (white - black)).clamp(0, 1)
    return [Image.fromarray(a) for a in (rgb * 255).round().byte().permute(0, 2, 3, 1).numpy()]


@dataclass
class Answer:
    """One image's logits without maps (the "off" method), and what answered."""
    logits: torch.Tensor                # (num_labels,)
    runtime: str


def _grids(out: Explained, i: int, method: str) -> dict[str, np.ndarray]:
    """Image i's maps of one method as patch grids, float64 summing to 1."""
    maps = out.maps[method][i].double().numpy()     # (tokens, patches)
    side = math.isqrt(maps.shape[1])
    assert side * side == maps.shape[1], f"{maps.shape[1]} patches do not form a square grid"
    return {t: (m / m.sum()).reshape(side, side) for t, m in zip(out.tokens, maps)}


def _explain_batch(clf: Classifier, items: list[tuple[Image.Image, str]]) -> list[Explanation | Answer]:
    """(image, method) pairs -> their explanations (an Answer for "off"), from one forward of all the images in the
    classifier's runtime (`choice.engine`); no teacher. A batch that asks no maps of a ViT or DeiT runs its plain
    eager forward."""
    pixels = clf.preprocess([image for image, _ in items])
    engine = choice.engine(clf)
    if all(method == OFF for _, method in items) and (engine.runtime.name == EAGER.name or _has_maps(clf)):
        # no maps asked: the plain forward, as a ViT's explained graph would compute maps for nothing (measured,
        # AVX2: 8 ms plain eager against 11 in ONNX Runtime with maps); a convnet's graph is its plain forward
        with torch.inference_mode():
            return [Answer(logits, EAGER.title) for logits in clf.module(pixels).float()]
    out = engine.run(pixels)
    views, labels = _model_views(clf, pixels), clf.labels
    return [Answer(out.logits[i], engine.note) if method == OFF else
            Explanation(model=clf.name, method=method, maps=_grids(out, i, method), logits=out.logits[i].numpy(),
                        answer=_head_answer("model", out.logits[i], labels),
                        heads=[_head_answer(t, logits[i], labels) for t, logits in out.heads.items()],
                        view=views[i], runtime=engine.note)
            for i, (_, method) in enumerate(items)]


_batches = batcher(_explain_batch)


def _answer_queued(clf: Classifier, image: Image.Image) -> Future:
    """Queues the model's plain answer (an `Answer`, no maps) in its runtime, its choice started if need be."""
    choice.prepare(clf)
    return _batches.submit(clf, (image, OFF))


def _teacher_answer(name: str, image: Image.Image, pretrained: bool) -> Callable[[], HeadAnswer]:
    """Queues the teacher's forward now, in the teacher's own fastest runtime; calling waits for its answer."""
    t = get_classifier(name, pretrained)
    future = _answer_queued(t, image)
    return lambda: _head_answer(t.name, future.result().output.logits, t.labels)


def _queued(clf: Classifier, image: Image.Image, method: str, teachers: dict | None) -> Callable[[], Batched]:
    """Queues the image's explanation at once, so that it can share a forward with other callers' images,
    and its teacher's answer unless `teachers` holds it already (None: no teacher). Calling waits for them."""
    future = _batches.submit(clf, (image, method))
    name = clf.spec.teacher if teachers is not None else None
    if name and name not in teachers:
        teachers[name] = _teacher_answer(name, image, clf.pretrained)

    def wait() -> Batched:
        batched = future.result()
        if isinstance(batched.output, Explanation):
            batched.output.teacher = teachers[name]() if name else None
        return batched
    return wait


def explain(model, image, *, method: str = "rollout", pretrained: bool = True, teacher: bool = True) -> Explanation:
    """Attention maps and head answers for one image.

    Args:
        model: registry name, local transformers folder, or a classifier from `get_classifier`.
        image: anything `load_image` reads (path, bytes, array, PIL image).
        method: "rollout" or "last".
        pretrained: False for architecture only (random weights); applies to a model given by name
            and to the teacher.
        teacher: add the answer of the model's teacher, for a model that has one in the registry.

    Raises:
        ExplainError: an unknown method, or a model without attention layers (a convnet).
    """
    check_method(method)
    clf = get_classifier(str(model), pretrained) if isinstance(model, (str, Path)) else model
    require_attention(clf.module, clf.spec.name)
    return _queued(clf, load_image(image), method, {} if teacher else None)().output


def compare_explained(image, models: list[str], *, top_k: int = 5, pretrained: bool = True,
                      method: str = "rollout") -> tuple[Comparison, list[Explanation | None]]:
    """Classify's comparison with each model's attention maps: one forward per model, a shared teacher's once,
    all queued at once. Each ViT/DeiT answers in its fastest exact runtime once that is chosen (`choice.prepare`,
    started here in the background), in eager PyTorch until then; its prediction names the runtime.

    Args:
        method: "rollout", "last", or "off" (the logits only, no maps and no teacher).

    Returns:
        The comparison, and per model its explanation, or None for a model without attention (a convnet),
        which answers without maps, and for every model with the method "off".
    """
    if method != OFF:
        check_method(method)
    image = load_image(image)
    classifiers, teachers = [get_classifier(name, pretrained) for name in models], {} if method != OFF else None
    waits = []
    for clf in classifiers:
        if has_attention(clf.module):
            choice.prepare(clf)
            waits.append(_queued(clf, image, method, teachers))
        else:  # a convnet: its answer without maps, in its own runtime
            waits.append(_answer_queued(clf, image).result)
    predictions, explanations = [], []
    for clf, wait in zip(classifiers, waits):
        b = wait()
        e = b.output if isinstance(b.output, Explanation) else None  # a convnet's answer comes without maps
        logits = torch.from_numpy(e.logits) if e else getattr(b.output, "logits", b.output)
        predictions.append(clf.prediction(logits, top_k, b.ms, b.size, runtime=getattr(b.output, "runtime", "")))
        explanations.append(e)
    return Comparison(predictions), explanations


def predict_explained(clf: Classifier, image, *, method: str = "rollout",
                      top_k: int = 5) -> tuple[Prediction, Explanation]:
    """A Classify answer and its attention maps from one forward pass; the latency is that forward's,
    maps included, with the number of images that shared it."""
    check_method(method)
    require_attention(clf.module, clf.spec.name)
    b = _queued(clf, load_image(image), method, {})()
    return clf.prediction(torch.from_numpy(b.output.logits), top_k, b.ms, b.size, b.output.runtime), b.output
