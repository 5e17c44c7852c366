"""Token Merging (Bolya et al. 2023, "Token Merging: Your ViT but Faster"), no retraining.

Each block merges its `r` most similar patch-token pairs between attention and MLP: bipartite soft
matching on the attention keys (averaged over heads), size-weighted averages of the merged tokens, and
proportional attention (log of each token's size added to the attention logits) so a token that stands
for n patches weighs as much as those n did. The class and distillation tokens are never merged.

`apply_tome(model, r)` returns a copy of a timm VisionTransformer / VisionTransformerDistilled or of a
transformers ViT / DeiT (vitspace's `HFLogits` wrapper) with the same logits shape, for inference. r is
fixed when the copy is made, so every shape is static: the copy exports with `torch.export` (batch may
stay dynamic) and quantizes with PT2E like the model it came from; the exported program holds aten ops
only, so a `.pt2` of it loads without this module.
"""
import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Matching", "match", "merge_wavg", "token_schedule", "ToMeBlock", "ToMeViT", "apply_tome", "name_for"]


@dataclass(frozen=True)
class Matching:
    """Which tokens merge where: indices into the two alternating halves of the patch tokens."""
    protected: int              # leading tokens (class, distillation) kept out of matching
    unmerged: torch.Tensor      # (B, Ta - r, 1) tokens of half A that stay
    src: torch.Tensor           # (B, r, 1) tokens of half A merged away...
    dst: torch.Tensor           # (B, r, 1) ...into these tokens of half B

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        """Sums each merged pair: (B, N, C) -> (B, N - r, C), protected tokens first, in order."""
        prefix, x = x[:, :self.protected], x[:, self.protected:]
        a, b = x[:, ::2], x[:, 1::2]
        n, c, r = a.shape[0], a.shape[2], self.src.shape[1]
        kept = a.gather(1, self.unmerged.expand(n, a.shape[1] - r, c))
        moved = a.gather(1, self.src.expand(n, r, c))
        return torch.cat([prefix, kept, b.scatter_add(1, self.dst.expand(n, r, c), moved)], dim=1)


def match(metric: torch.Tensor, r: int, protected: int) -> Matching | None:
    """ToMe's bipartite soft matching on metric (B, N, C); None when nothing can merge.

    Patch tokens alternate between halves A and B; each A token's edge goes to its most similar
    (cosine) B token, and the r strongest edges merge. At most half the patch tokens merge per block.
    """
    r = min(r, (metric.shape[1] - protected) // 2)
    if r <= 0:
        return None
    metric = metric[:, protected:].detach()  # indices only, no gradient through the matching
    metric = metric / metric.norm(dim=-1, keepdim=True)
    scores = metric[:, ::2] @ metric[:, 1::2].transpose(1, 2)  # (B, Ta, Tb)
    best, best_idx = scores.max(dim=-1)
    edges = best.argsort(dim=-1, descending=True)[..., None]  # (B, Ta, 1)
    src = edges[:, :r]
    return Matching(protected, edges[:, r:], src, best_idx[..., None].gather(1, src))


def merge_wavg(m: Matching, x: torch.Tensor, size: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Merged tokens as the size-weighted average of what they merge; size (B, N, 1) counts patches."""
    size = torch.ones_like(x[..., :1]) if size is None else size
    x, size = m.merge(x * size), m.merge(size)
    return x / size, size


def _schedule(tokens: int, r: int, depth: int, protected: int) -> list[int]:
    counts = []
    for _ in range(depth):
        tokens -= max(0, min(r, (tokens - protected) // 2))  # what `match` lets a block merge
        counts.append(tokens)
    return counts


class _FusedQKV(nn.Module):
    """timm Attention's projections: one linear layer for q, k and v, optional q/k norms."""

    def __init__(self, attn: nn.Module):
        super().__init__()
        if getattr(attn, "gate", None) is not None:
            raise ValueError("ToMe does not support gated attention")
        self.qkv, self.q_norm, self.k_norm = attn.qkv, attn.q_norm, attn.k_norm
        self.heads, self.scale = attn.num_heads, attn.scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(q, k, v) of tokens (B, N, C), each (B, heads, N, head dim), q and k normed."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, d)
        return self.q_norm(q), self.k_norm(k), v


class _SplitQKV(nn.Module):
    """transformers ViT/DeiT attention's projections: q_proj, k_proj, v_proj."""

    def __init__(self, attn: nn.Module):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = attn.q_proj, attn.k_proj, attn.v_proj
        self.heads, self.scale = attn.num_attention_heads, attn.scaling

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(q, k, v) of tokens (B, N, C), each (B, heads, N, head dim)."""
        b, n, _ = x.shape
        return tuple(p(x).view(b, n, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))


class ToMeBlock(nn.Module):
    """A pre-norm transformer block that merges r tokens between its attention and its MLP."""

    def __init__(self, *, norm1: nn.Module, qkv: nn.Module, proj: nn.Module, norm2: nn.Module, mlp: nn.Module,
                 r: int, protected: int, attn_norm: nn.Module | None = None, ls1: nn.Module | None = None,
                 ls2: nn.Module | None = None):
        super().__init__()
        self.norm1, self.qkv, self.proj, self.norm2, self.mlp = norm1, qkv, proj, norm2, mlp
        self.attn_norm = attn_norm or nn.Identity()
        self.ls1, self.ls2 = ls1 or nn.Identity(), ls2 or nn.Identity()
        self.r, self.protected = r, protected

    @classmethod
    def from_timm(cls, block: nn.Module, r: int, protected: int) -> "ToMeBlock":
        """A ToMe block sharing the layers of a timm ViT block."""
        return cls(norm1=block.norm1, qkv=_FusedQKV(block.attn), proj=block.attn.proj, attn_norm=block.attn.norm,
                   ls1=block.ls1, norm2=block.norm2, mlp=block.mlp, ls2=block.ls2, r=r, protected=protected)

    @classmethod
    def from_hf(cls, layer: nn.Module, r: int, protected: int) -> "ToMeBlock":
        """A ToMe block sharing the layers of a transformers ViT/DeiT layer."""
        return cls(norm1=layer.layernorm_before, qkv=_SplitQKV(layer.attention), proj=layer.attention.o_proj,
                   norm2=layer.layernorm_after, mlp=layer.mlp, r=r, protected=protected)

    def forward(self, x: torch.Tensor, size: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, C), size (B, N, 1) or None before the first merge -> (B, N - r, C), its sizes."""
        q, k, v = self.qkv(self.norm1(x))
        bias = None if size is None else size.log()[:, None, None, :, 0]  # proportional attention, (B, 1, 1, N)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.qkv.scale)
        x = x + self.ls1(self.proj(self.attn_norm(a.transpose(1, 2).flatten(2))))
        m = match(k.mean(1), self.r, self.protected)
        if m is not None:
            x, size = merge_wavg(m, x, size)
        return x + self.ls2(self.mlp(self.norm2(x))), size


class ToMeViT(nn.Module):
    """A ViT whose blocks merge tokens: embed, ToMe blocks, then the model's own norm and head."""

    def __init__(self, model: nn.Module, blocks: list[ToMeBlock], *, r: int, protected: int, tokens: list[int]):
        super().__init__()
        self.model = model                  # the copied model, its own blocks removed
        self.blocks = nn.ModuleList(blocks)
        self.r, self.protected = r, protected
        self.tokens = tokens                # leaving each block

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_labels) of preprocessed pixels (B, 3, H, W)."""
        x, size = self.embed(pixels), None
        for block in self.blocks:
            x, size = block(x, size)
        return self.classify(x)


class _TimmToMe(ToMeViT):
    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) entering the first block: patch embedding, prefix tokens and position embedding."""
        m = self.model
        return m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(pixels))))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the last block's tokens: the model's own norm and head."""
        return self.model.forward_head(self.model.norm(x))  # reads the protected tokens only


class _HFToMe(ToMeViT):
    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) entering the first layer: the model's own embeddings."""
        return self.model.hf.base_model.embeddings(pixels)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the last layer's tokens: the final layernorm and the classifier (DeiT: mean of both heads)."""
        hf = self.model.hf
        x = hf.base_model.layernorm(x)
        if hasattr(hf, "distillation_classifier"):  # DeiT with teacher: mean of both heads, as its forward
            return (hf.cls_classifier(x[:, 0]) + hf.distillation_classifier(x[:, 1])) / 2
        return hf.classifier(x[:, 0])


def _is_timm(model: nn.Module) -> bool:
    from timm.models.vision_transformer import VisionTransformer
    return isinstance(model, VisionTransformer)


def _is_hf(model: nn.Module) -> bool:
    base = getattr(getattr(model, "hf", None), "base_model", None)
    return hasattr(base, "layers") and hasattr(base, "embeddings")


def _layout(model: nn.Module) -> tuple[int, int, int]:
    """(tokens entering the first block, protected tokens, blocks) of a supported model."""
    if _is_timm(model):
        if getattr(model, "attn_pool", None) is not None or model.global_pool != "token":
            raise ValueError(f"ToMe needs class-token pooling; this model pools by {model.global_pool!r}")
        p = model.num_prefix_tokens
        return model.patch_embed.num_patches + p, p, len(model.blocks)
    if _is_hf(model):
        base = model.hf.base_model
        p = 2 if hasattr(base.embeddings, "distillation_token") else 1
        return base.embeddings.patch_embeddings.num_patches + p, p, len(base.layers)
    raise ValueError(f"ToMe supports timm VisionTransformer and transformers ViT/DeiT models, "
                     f"not {type(model).__name__}")


def token_schedule(model: nn.Module, r: int) -> list[int]:
    """Tokens leaving each block of `model` once it merges r per block."""
    tokens, protected, depth = _layout(model)
    return _schedule(tokens, r, depth, protected)


def apply_tome(model: nn.Module, r: int) -> ToMeViT:
    """A copy of `model` that merges r tokens in every block; `model` itself is left as it was.

    Supports timm VisionTransformer / VisionTransformerDistilled (class-token pooling) and vitspace's
    HFLogits around transformers ViT / DeiT classifiers. r=0 gives the model's own logits.
    """
    if r < 0:
        raise ValueError(f"r must be 0 or more, not {r}")
    _, p, _ = _layout(model)
    kw = dict(r=r, protected=p, tokens=token_schedule(model, r))
    clone = copy.deepcopy(model)
    if _is_timm(clone):
        blocks = [ToMeBlock.from_timm(b, r, p) for b in clone.blocks]
        clone.blocks = nn.Sequential()
        return _TimmToMe(clone, blocks, **kw).train(model.training)
    base = clone.hf.base_model
    blocks = [ToMeBlock.from_hf(layer, r, p) for layer in base.layers]
    base.layers = nn.ModuleList()
    return _HFToMe(clone, blocks, **kw).train(model.training)


def name_for(r: int, base: str = "") -> str:
    """The variant name with its merge rate: `tome-r8`, or a file name: name_for(8, "model-int8-x86.pt2")
    -> "model-int8-x86-tome-r8.pt2"."""
    tag = f"tome-r{r}"
    if not base:
        return tag
    stem, dot, ext = base.partition(".")
    return f"{stem}-{tag}{dot}{ext}"
