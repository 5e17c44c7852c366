"""The explained forward as one exportable module: logits, both methods' maps and DeiT's two heads as outputs.

`AttentionGraph` wraps a timm or transformers ViT/DeiT; its forward taps the same layers as the hooked eager
forward (`forward_with_attention`), computes the attention from them, and rolls it out inside the graph, so an
exported file answers a whole explanation in one call and its outputs stay small: per token before the patches
(class[, distillation]) a map over the patches. A model without attention (a convnet, such as a DeiT's teacher)
answers its logits alone, so that it too runs in the fastest runtime. `Explained` is what any runtime returns,
eager included.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .attention import _recording, _taps, attention_maps, forward_with_attention, has_attention

__all__ = ["Explained", "AttentionGraph", "output_names", "from_outputs", "eager_explained"]


@dataclass
class Explained:
    """One forward's answers for a batch: logits, each method's maps and DeiT's head logits."""
    logits: torch.Tensor                    # (B, num_labels)
    maps: dict[str, torch.Tensor]           # method -> (B, tokens, patches), rows >= 0 summing to 1
    heads: dict[str, torch.Tensor]          # DeiT: "class" and "distillation" logits (B, num_labels); else empty
    tokens: tuple[str, ...]                 # the tokens before the patches: class[, distillation]


def _rows(attentions: list[torch.Tensor], tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rollout, last layer) rows of the first `tokens` tokens over the patches, normalised, float32."""
    joint = None
    for a in reversed(attentions):     # (B, nh, N, N): heads averaged, identity for the residual, rows renormalised
        a = a.mean(1)
        a = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = a / a.sum(-1, keepdim=True)
        joint = a[:, :tokens] if joint is None else joint @ a
    last = attentions[-1][:, :, :tokens].mean(1)
    return tuple(m[..., tokens:] / m[..., tokens:].sum(-1, keepdim=True) for m in (joint, last))


class AttentionGraph(nn.Module):
    """A ViT/DeiT whose forward returns (logits, rollout maps, last-layer maps[, heads]) in one pass.

    Outputs, in `output_names` order: logits (B, L); rollout and last (B, T, P), per token before the patches a
    map over the P patches; DeiT only: heads (B, 2, L), the class head's logits then the distillation head's.
    A model without attention layers: logits only.
    """

    def __init__(self, module: nn.Module, name: str = "the model"):
        super().__init__()
        self.module = module
        self.taps = _taps(module, name) if has_attention(module) else None

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The outputs of preprocessed pixels (B, 3, H, W)."""
        if self.taps is None:
            return (self.module(pixels).float(),)
        with _recording(self.taps.modules) as out:
            logits = self.module(pixels).float()
        rollout, last = _rows([layer(out) for layer in self.taps.layers], len(self.taps.tokens))
        heads = (torch.stack([out[h].float() for h in self.taps.heads], 1),) if self.taps.heads else ()
        return (logits, rollout, last, *heads)


def output_names(graph: AttentionGraph) -> list[str]:
    """The names of the graph's outputs, in order (as exported files name them)."""
    if graph.taps is None:
        return ["logits"]
    return ["logits", "rollout", "last", *(["heads"] if graph.taps.heads else [])]


def from_outputs(graph: AttentionGraph, outputs) -> Explained:
    """The graph's outputs (tensors or arrays, in `output_names` order) as an Explained."""
    t = [torch.as_tensor(o).float() for o in outputs]
    if graph.taps is None:
        return Explained(t[0], {}, {}, ())
    heads = {h: t[3][:, i] for i, h in enumerate(graph.taps.heads)} if graph.taps.heads else {}
    return Explained(t[0], {"rollout": t[1], "last": t[2]}, heads, graph.taps.tokens)


def eager_explained(module: nn.Module, pixels: torch.Tensor, name: str = "the model") -> Explained:
    """The reference: the hooked eager forward, its maps made as explanations make them (float64 rollout); a
    model without attention: its plain forward."""
    if not has_attention(module):
        with torch.inference_mode():
            return Explained(module(pixels).float(), {}, {}, ())
    out = forward_with_attention(module, pixels, name)
    maps = {}
    for method in ("rollout", "last"):
        per_image = [attention_maps([a[i] for a in out.attentions], out.tokens, method) for i in range(len(pixels))]
        maps[method] = torch.stack([torch.from_numpy(np.stack([m[t].reshape(-1) for t in out.tokens]))
                                    for m in per_image]).float()
    return Explained(out.logits, maps, out.heads, out.tokens)
