"""Where ViT and DeiT look: attention maps, and DeiT's two heads side by side.

    python -m vitspace.explain IMAGE --model NAME [--method rollout|last] [--out FILE.png] [--json]

Maps come from the same forward pass as the logits: hooks keep each attention layer's queries and keys
(and DeiT's two head outputs), and the attention probabilities are computed from them afterwards, so the
model keeps its fused attention kernel. Methods: "rollout" (Abnar & Zuidema 2020: heads averaged, identity
added for the residual path, rows normalised, multiplied across layers) or "last" (the last layer's
attention). Each map is the attention of one token (class, and distillation for DeiT) over the patch grid,
normalised to sum to 1. Exit status 2 on bad input (unknown model, unreadable image, no weights, a model
without attention).
"""
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ..classify.batching import Batched
from ..classify.classifier import Classifier, Comparison, Prediction, batched_logits, batcher, get_classifier
from ..data.images import load_image
from ..errors import ExplainError

__all__ = ["ExplainError", "HeadAnswer", "Explanation", "Attended", "METHODS", "TEACHERS", "explain",
           "predict_explained", "compare_explained", "forward_with_attention", "rollout", "attention_maps",
           "display_image", "colorize", "overlay", "figure"]

METHODS = ("rollout", "last")
TEACHERS = {"vit-tiny-cifar10": "resnet9-cifar10", "deit-tiny-cifar10": "resnet9-cifar10"}
TOKENS = ("class", "distillation")     # the tokens before the patches, in order (ViT: the first only)
TOP = 3


@dataclass
class HeadAnswer:
    name: str                           # "class", "distillation", "model" (what the model answers) or a teacher
    top3: list[tuple[str, float]]       # (label, probability), best first

    @property
    def label(self) -> str:
        return self.top3[0][0]

    def to_dict(self) -> dict:
        return {"name": self.name, "top3": [{"label": label, "score": s} for label, s in self.top3]}


@dataclass
class Explanation:
    model: str
    method: str
    maps: dict[str, np.ndarray]         # token name -> (patch rows, patch columns), >= 0, sums to 1
    logits: np.ndarray                  # (num_labels,), the model's own output
    answer: HeadAnswer                  # DeiT: the average of its two heads
    heads: list[HeadAnswer] = field(default_factory=list)   # DeiT: class and distillation heads
    teacher: HeadAnswer | None = None   # the CIFAR-10 students' convnet teacher
    view: Image.Image | None = None     # the input as the model saw it (resized, cropped)

    @property
    def grid(self) -> tuple[int, int]:
        return next(iter(self.maps.values())).shape

    @property
    def agree(self) -> bool | None:
        """Whether DeiT's heads pick the same label; None for a single head."""
        return len({h.label for h in self.heads}) == 1 if len(self.heads) > 1 else None

    def to_dict(self, decimals: int = 6) -> dict:
        return {"model": self.model, "method": self.method, "grid": list(self.grid),
                "maps": {t: np.round(m, decimals).tolist() for t, m in self.maps.items()},
                "answer": self.answer.to_dict(), "heads": [h.to_dict() for h in self.heads], "agree": self.agree,
                "teacher": self.teacher.to_dict() if self.teacher else None}


# --- capture: one forward, logits and attentions --------------------------------------------------

@dataclass
class _Probe:
    record: dict[object, nn.Module]                     # modules whose outputs a forward keeps, by key
    layers: list[Callable[[dict], torch.Tensor]]        # per layer: kept outputs -> attention (B, nh, N, N)
    tokens: tuple[str, ...]                             # tokens before the patches: class[, distillation]
    heads: tuple[str, ...]                              # keys in record of DeiT's two heads, if it has them


@dataclass
class Attended:
    logits: torch.Tensor                    # (B, num_labels)
    attentions: list[torch.Tensor]          # per layer, first first: (B, heads, N, N), rows sum to 1
    heads: dict[str, torch.Tensor]          # DeiT: "class" and "distillation" logits (B, num_labels)
    tokens: tuple[str, ...]


def _attention(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    return ((q * scale) @ k.transpose(-2, -1)).float().softmax(-1)


def _timm_attention(i: int, a: nn.Module, out: dict) -> torch.Tensor:
    q, k, _ = out[i].unflatten(-1, (3, a.num_heads, -1)).permute(2, 0, 3, 1, 4)  # (B, nh, N, hs) each
    return _attention(a.q_norm(q), a.k_norm(k), a.scale)


def _hf_attention(i: int, a: nn.Module, out: dict) -> torch.Tensor:
    q, k = (out[p, i].unflatten(-1, (-1, a.head_dim)).transpose(1, 2) for p in "qk")  # (B, nh, N, hs)
    return _attention(q, k, a.scaling)


def _deit_heads(cls_head: nn.Module | None, dist_head: nn.Module | None) -> dict[str, nn.Module]:
    return dict(zip(TOKENS, (cls_head, dist_head))) if dist_head is not None else {}


def _timm_probe(model: VisionTransformer) -> _Probe:
    attns = [block.attn for block in model.blocks]
    heads = _deit_heads(model.head, getattr(model, "head_dist", None))
    tokens = TOKENS[:1 + (getattr(model, "dist_token", None) is not None)]
    assert model.num_prefix_tokens == len(tokens), "register tokens are not supported"
    return _Probe({i: a.qkv for i, a in enumerate(attns)} | heads,
                  [partial(_timm_attention, i, a) for i, a in enumerate(attns)], tokens, tuple(heads))


def _hf_probe(hf: nn.Module) -> _Probe:
    attns = [layer.attention for layer in hf.base_model.layers]
    heads = _deit_heads(getattr(hf, "cls_classifier", None), getattr(hf, "distillation_classifier", None))
    record = {(p, i): getattr(a, f"{p}_proj") for i, a in enumerate(attns) for p in "qk"}
    tokens = TOKENS[:1 + hasattr(hf.base_model.embeddings, "distillation_token")]
    return _Probe(record | heads, [partial(_hf_attention, i, a) for i, a in enumerate(attns)], tokens,
                  tuple(heads))


def _probe(module: nn.Module, name: str) -> _Probe:
    if isinstance(module, VisionTransformer):
        return _timm_probe(module)
    hf = getattr(module, "hf", None)
    if hf is not None and hasattr(getattr(hf, "base_model", None), "layers"):
        return _hf_probe(hf)
    raise ExplainError(f"{name} has no attention layers to show (a convnet or a compiled program); "
                       "pick a ViT or DeiT model")


@contextmanager
def _recording(modules: dict[object, nn.Module]):
    """Outputs of the named modules during forwards on this thread only: the model may be shared."""
    out, me = {}, threading.get_ident()

    def keep(name):
        def hook(_module, _inputs, output):
            if threading.get_ident() == me:
                out[name] = output
        return hook
    handles = [m.register_forward_hook(keep(n)) for n, m in modules.items()]
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


@torch.inference_mode()
def forward_with_attention(module: nn.Module, pixels: torch.Tensor, name: str = "the model") -> Attended:
    """The model's logits, each layer's attention and DeiT's head logits, from one forward of `pixels`."""
    probe = _probe(module, name)
    with _recording(probe.record) as out:
        logits = module(pixels).float()
    heads = {name: out[name].float() for name in probe.heads}
    return Attended(logits, [layer(out) for layer in probe.layers], heads, probe.tokens)


# --- maps -----------------------------------------------------------------------------------------

def rollout(attentions: Sequence[torch.Tensor], rows: int | None = None) -> torch.Tensor:
    """Attention rollout: per layer, first layer first, (..., heads, N, N) -> (..., N, N).

    Heads are averaged, the identity added for the residual connection and rows renormalised, then
    the layers multiplied: R = A_L ... A_2 A_1. rows=T gives R's first T rows only, for a fraction
    of the work (the product runs from the last layer down, T rows at a time).
    """
    joint = None
    for a in reversed(list(attentions)):
        a = a.mean(-3).double()
        a = a + torch.eye(a.shape[-1], dtype=a.dtype)
        a = a / a.sum(-1, keepdim=True)
        joint = a[..., :rows, :] if joint is None else joint @ a
    return joint


def _check(method: str) -> None:
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def attention_maps(attentions: Sequence[torch.Tensor], tokens: Sequence[str],
                   method: str = "rollout") -> dict[str, np.ndarray]:
    """One image's token maps: attentions per layer (heads, N, N) -> {token: (patch rows, patch columns)}."""
    _check(method)
    T = len(tokens)
    joint = rollout(attentions, rows=T) if method == "rollout" else attentions[-1][:, :T].mean(-3).double()
    patches = joint[:, T:].numpy()     # (tokens, patches)
    side = math.isqrt(patches.shape[1])
    assert side * side == patches.shape[1], f"{patches.shape[1]} patches do not form a square grid"
    patches = patches / patches.sum(-1, keepdims=True)
    return {t: row.reshape(side, side) for t, row in zip(tokens, patches)}


def _answer(name: str, logits: torch.Tensor, labels: Sequence[str]) -> HeadAnswer:
    scores, idx = logits.softmax(-1).topk(min(TOP, len(labels)))
    return HeadAnswer(name, [(labels[i], round(s, 6)) for s, i in zip(scores.tolist(), idx.tolist())])


def _model_views(clf: Classifier, pixels: torch.Tensor) -> list[Image.Image]:
    """The preprocessed inputs (B, 3, H, W) as images: normalisation undone with the model's own
    preprocessing, read off a black and a white image (any per-channel scale and shift)."""
    black, white = (clf.preprocess([Image.new("RGB", (8, 8), c)])[0, :, :1, :1] for c in ("black", "white"))
    rgb = ((pixels.float() - black) / (white - black)).clamp(0, 1)
    return [Image.fromarray(a) for a in (rgb * 255).round().byte().permute(0, 2, 3, 1).numpy()]


def _explain_batch(clf: Classifier, items: list[tuple[Image.Image, str]]) -> list[Explanation]:
    """(image, method) pairs -> their explanations, from one forward of all the images; no teacher."""
    pixels = clf.preprocess([image for image, _ in items])
    out = forward_with_attention(clf.module, pixels, clf.spec.name)
    views, labels = _model_views(clf, pixels), clf.labels
    return [Explanation(model=clf.name, method=method,
                        maps=attention_maps([a[i] for a in out.attentions], out.tokens, method),
                        logits=out.logits[i].numpy(), answer=_answer("model", out.logits[i], labels),
                        heads=[_answer(t, logits[i], labels) for t, logits in out.heads.items()], view=views[i])
            for i, (_, method) in enumerate(items)]


_batches = batcher(_explain_batch)


def _teacher_answer(name: str, image: Image.Image, pretrained: bool) -> Callable[[], HeadAnswer]:
    t = get_classifier(name, pretrained)
    future = batched_logits(t, image)
    return lambda: _answer(t.name, future.result().result, t.labels)


def _attends(clf: Classifier) -> bool:
    try:
        _probe(clf.module, clf.spec.name)
        return True
    except ExplainError:
        return False


def _queued(clf: Classifier, image: Image.Image, method: str, teachers: dict | None) -> Callable[[], Batched]:
    """Queues the image's explanation at once, so that it can share a forward with other callers' images,
    and its teacher's answer unless `teachers` holds it already (None: no teacher). Calling waits for them."""
    future = _batches.submit(clf, (image, method))
    name = TEACHERS.get(clf.spec.name) if teachers is not None else None
    if name and name not in teachers:
        teachers[name] = _teacher_answer(name, image, clf.pretrained)

    def wait() -> Batched:
        batched = future.result()
        batched.result.teacher = teachers[name]() if name else None
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
        teacher: add the CIFAR-10 students' teacher's answer.
    """
    _check(method)
    clf = get_classifier(str(model), pretrained) if isinstance(model, (str, Path)) else model
    return _queued(clf, load_image(image), method, {} if teacher else None)().result


def compare_explained(image, models: list[str], *, top_k: int = 5, pretrained: bool = True,
                      method: str = "rollout") -> tuple[Comparison, list[Explanation | None]]:
    """Classify's comparison with each model's attention maps, one forward per model, the teacher's once;
    all queued at once. A model without attention (a convnet) answers without maps."""
    _check(method)
    image = load_image(image)
    classifiers, teachers = [get_classifier(name, pretrained) for name in models], {}
    waits = [_queued(clf, image, method, teachers) if _attends(clf) else batched_logits(clf, image).result
             for clf in classifiers]
    predictions, explanations = [], []
    for clf, wait in zip(classifiers, waits):
        b = wait()
        e = b.result if isinstance(b.result, Explanation) else None  # a convnet's answer comes without maps
        logits = torch.from_numpy(e.logits) if e else b.result
        predictions.append(clf.prediction(logits, top_k, b.ms, b.size))
        explanations.append(e)
    return Comparison(predictions), explanations


def predict_explained(clf: Classifier, image, *, method: str = "rollout",
                      top_k: int = 5) -> tuple[Prediction, Explanation]:
    """A Classify answer and its attention maps from one forward pass; the latency is that forward's,
    maps included, with the number of images that shared it."""
    _check(method)
    b = _queued(clf, load_image(image), method, {})()
    return clf.prediction(torch.from_numpy(b.result.logits), top_k, b.ms, b.size), b.result


# --- display --------------------------------------------------------------------------------------

# viridis at nine points (matplotlib's colour map, perceptually uniform, readable in greyscale)
_VIRIDIS = np.array([(68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
                     (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37)], dtype=np.float64)


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> viridis RGB uint8, shape (..., 3)."""
    x = np.clip(values, 0, 1) * (len(_VIRIDIS) - 1)
    lo = np.minimum(np.floor(x).astype(int), len(_VIRIDIS) - 2)
    t = (x - lo)[..., None]
    return ((1 - t) * _VIRIDIS[lo] + t * _VIRIDIS[lo + 1]).round().astype(np.uint8)


def display_image(image: Image.Image, min_side: int = 256) -> Image.Image:
    """A small image enlarged by a whole factor to at least min_side, nearest-neighbour: crisp pixels, no blur."""
    factor = -(-min_side // min(image.size))
    if factor <= 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def overlay(image: Image.Image, grid: np.ndarray, *, vmax: float | None = None, alpha: float = 0.5,
            min_side: int = 256) -> Image.Image:
    """The image at display size with the map over it, one flat square per patch; colours run 0..vmax."""
    base = display_image(image.convert("RGB"), min_side)
    heat = Image.fromarray(colorize(grid / (vmax or grid.max() or 1.0))).resize(base.size, Image.NEAREST)
    return Image.blend(base, heat, alpha)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _short(label: str) -> str:
    return label.split(",")[0]  # ImageNet labels list synonyms: "tabby, tabby cat"


def _line(title: str, answer: HeadAnswer) -> str:
    return f"{title}: " + "  ·  ".join(f"{_short(label)} {s:.1%}" for label, s in answer.top3)


def _text_lines(e: Explanation) -> list[str]:
    if not e.heads:
        lines = [_line("answer", e.answer)]
    else:
        lines = [_line("answer (mean of the heads)", e.answer),
                 *(_line(f"{h.name} head", h) for h in e.heads),
                 f"the heads agree: {e.heads[0].label}" if e.agree
                 else "the heads disagree: " + " vs ".join(h.label for h in e.heads)]
    if e.teacher:
        lines.append(_line(f"teacher {e.teacher.name}", e.teacher))
    return lines


def _colour_bar(fig: Image.Image, x: int, y: int, height: int, vmax: float, font, width: int = 14) -> None:
    ramp = colorize(np.linspace(1, 0, height))[:, None, :].repeat(width, axis=1)
    fig.paste(Image.fromarray(ramp), (x, y))
    draw = ImageDraw.Draw(fig)
    draw.rectangle((x, y, x + width - 1, y + height - 1), outline="black")
    for frac, anchor in ((1.0, "lt"), (0.5, "lm"), (0.0, "lb")):
        ty = y + (1 - frac) * (height - 1)
        draw.line((x + width, ty, x + width + 4, ty), fill="black")
        draw.text((x + width + 7, ty), f"{100 * frac * vmax:.2g}%", fill="black", font=font, anchor=anchor)


def figure(e: Explanation, *, min_side: int = 256) -> Image.Image:
    """The model's view, then each token's map over it, a shared colour bar, and the heads' answers below."""
    assert e.view is not None, "figure needs the model's view (explain sets it)"
    vmax = max(float(m.max()) for m in e.maps.values())
    panels = {f"input {e.view.width}x{e.view.height}": display_image(e.view, min_side)}
    panels |= {f"{token} token": overlay(e.view, m, vmax=vmax, min_side=min_side) for token, m in e.maps.items()}
    pw, ph = panels[next(iter(panels))].size
    pad, line_h, font, small = 12, 20, _font(15), _font(13)
    method = "attention rollout" if e.method == "rollout" else "last layer attention"
    header, lines = f"{e.model}  ·  {method}, share of attention per patch", _text_lines(e)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max(measure.textlength(s, font=font) for s in [header, *lines])
    width = int(max(len(panels) * (pw + pad) + 70, text_w) + 2 * pad)
    top = pad + 2 * line_h                      # the header line, then panel titles
    fig = Image.new("RGB", (width, top + ph + pad + len(lines) * line_h + pad), "white")
    draw = ImageDraw.Draw(fig)
    draw.text((pad, pad), header, fill="black", font=font)
    for i, (title, panel) in enumerate(panels.items()):
        x = pad + i * (pw + pad)
        draw.text((x, pad + line_h), title, fill="black", font=font)
        fig.paste(panel, (x, top))
    _colour_bar(fig, pad + len(panels) * (pw + pad), top, ph, vmax, small)
    for i, s in enumerate(lines):
        draw.text((pad, top + ph + pad + i * line_h), s, fill="black", font=font)
    return fig




# --- command --------------------------------------------------------------------------------------
