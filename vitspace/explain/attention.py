"""Attention from the forward that gives the logits, and the maps made from it.

Hooks keep each attention layer's queries and keys (and DeiT's two head outputs) during the model's own forward;
the attention probabilities are computed from them afterwards, so the model keeps its fused attention kernel.
Methods: "rollout" (Abnar & Zuidema 2020: heads averaged, identity added for the residual path, rows normalised,
multiplied across layers) or "last" (the last layer's attention).
"""
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import numpy as np
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ..errors import ExplainError

__all__ = ["METHODS", "TOKENS", "Attended", "check_method", "has_attention", "require_attention",
           "forward_with_attention", "rollout", "attention_maps"]

METHODS = ("rollout", "last")
TOKENS = ("class", "distillation")     # the tokens before the patches, in order (ViT: the first only)


@dataclass
class AttentionTaps:
    """Where to listen in one model's forward, and how to turn what was heard into attention."""
    modules: dict[object, nn.Module]                    # modules whose outputs a forward keeps, by key
    layers: list[Callable[[dict], torch.Tensor]]        # per layer: kept outputs -> attention (B, nh, N, N)
    tokens: tuple[str, ...]                             # tokens before the patches: class[, distillation]
    heads: tuple[str, ...]                              # keys in `modules` of DeiT's two heads, if it has them


@dataclass
class Attended:
    """What one forward gave: the logits, every layer's attention, DeiT's head logits (empty for other models),
    and the tokens before the patches (class[, distillation])."""
    logits: torch.Tensor                    # (B, num_labels)
    attentions: list[torch.Tensor]          # per layer, first first: (B, heads, N, N), rows sum to 1
    heads: dict[str, torch.Tensor]          # DeiT: "class" and "distillation" logits (B, num_labels)
    tokens: tuple[str, ...]


def check_method(method: str) -> None:
    """Raises ExplainError unless `method` is one of METHODS."""
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


# --- taps on timm and transformers models -------------------------------------------------------------

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


def _timm_taps(model: VisionTransformer) -> AttentionTaps:
    attns = [block.attn for block in model.blocks]
    heads = _deit_heads(model.head, getattr(model, "head_dist", None))
    tokens = TOKENS[:1 + (getattr(model, "dist_token", None) is not None)]
    assert model.num_prefix_tokens == len(tokens), "register tokens are not supported"
    return AttentionTaps({i: a.qkv for i, a in enumerate(attns)} | heads,
                         [partial(_timm_attention, i, a) for i, a in enumerate(attns)], tokens, tuple(heads))


def _hf_taps(hf: nn.Module) -> AttentionTaps:
    attns = [layer.attention for layer in hf.base_model.layers]
    heads = _deit_heads(getattr(hf, "cls_classifier", None), getattr(hf, "distillation_classifier", None))
    qk = {(p, i): getattr(a, f"{p}_proj") for i, a in enumerate(attns) for p in "qk"}
    tokens = TOKENS[:1 + hasattr(hf.base_model.embeddings, "distillation_token")]
    return AttentionTaps(qk | heads, [partial(_hf_attention, i, a) for i, a in enumerate(attns)], tokens,
                         tuple(heads))


def _taps(module: nn.Module, name: str) -> AttentionTaps:
    if isinstance(module, VisionTransformer):
        return _timm_taps(module)
    hf = getattr(module, "hf", None)
    if hf is not None and hasattr(getattr(hf, "base_model", None), "layers"):
        return _hf_taps(hf)
    raise ExplainError(f"{name} has no attention layers to show (a convnet or a compiled program); "
                       "pick a ViT or DeiT model")


def require_attention(module: nn.Module, name: str) -> None:
    """Raises ExplainError, naming the model, unless it has attention layers to show (a timm or transformers
    ViT or DeiT)."""
    _taps(module, name)


def has_attention(module: nn.Module) -> bool:
    """Whether forward_with_attention can read the module's attention (a timm or transformers ViT or DeiT)."""
    try:
        _taps(module, "")
        return True
    except ExplainError:
        return False


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
    """The model's logits, each layer's attention and DeiT's head logits, from one forward of `pixels`.

    Args:
        module: a timm VisionTransformer or a transformers ViT/DeiT wrapped as vitspace builds it.
        pixels: a preprocessed batch (B, 3, H, W).
        name: the model's name in the ExplainError raised when it has no attention layers.
    """
    taps = _taps(module, name)
    with _recording(taps.modules) as out:
        logits = module(pixels).float()
    heads = {head: out[head].float() for head in taps.heads}
    return Attended(logits, [layer(out) for layer in taps.layers], heads, taps.tokens)


# --- maps ---------------------------------------------------------------------------------------------

def rollout(attentions: Sequence[torch.Tensor], rows: int | None = None) -> torch.Tensor:
    """Attention rollout: heads averaged, the identity added for the residual connection and rows
    renormalised, then the layers multiplied: R = A_L ... A_2 A_1.

    Args:
        attentions: per layer, first layer first, (..., heads, N, N).
        rows: T keeps R's first T rows only, for a fraction of the work (the product runs from the last
            layer down, T rows at a time).

    Returns:
        R, (..., N, N) or (..., T, N), float64.
    """
    joint = None
    for a in reversed(list(attentions)):
        a = a.mean(-3).double()
        a = a + torch.eye(a.shape[-1], dtype=a.dtype)
        a = a / a.sum(-1, keepdim=True)
        joint = a[..., :rows, :] if joint is None else joint @ a
    return joint


def attention_maps(attentions: Sequence[torch.Tensor], tokens: Sequence[str],
                   method: str = "rollout") -> dict[str, np.ndarray]:
    """One image's attention of each token before the patches over the patch grid.

    Args:
        attentions: per layer, first layer first, (heads, N, N).
        tokens: the tokens before the patches, in order: ("class",) or ("class", "distillation").
        method: "rollout" or "last".

    Returns:
        token -> (patch rows, patch columns), >= 0, summing to 1.
    """
    check_method(method)
    T = len(tokens)
    joint = rollout(attentions, rows=T) if method == "rollout" else attentions[-1][:, :T].mean(-3).double()
    patches = joint[:, T:].numpy()     # (tokens, patches)
    side = math.isqrt(patches.shape[1])
    assert side * side == patches.shape[1], f"{patches.shape[1]} patches do not form a square grid"
    patches = patches / patches.sum(-1, keepdims=True)
    return {t: row.reshape(side, side) for t, row in zip(tokens, patches)}
