"""Hugging Face transformers image classifiers as vitspace modules: pixels in, logits out."""
import torch
from torch import nn

__all__ = ["HFLogits", "hf_classes", "imagenet_labels", "build_hf_architecture"]


class HFLogits(nn.Module):
    """A transformers image classifier as pixels -> logits (DeiT with teacher: mean of both heads)."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model

    @property
    def config(self):
        """The transformers model's config."""
        return self.hf.config

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_labels) of preprocessed pixels (B, 3, H, W)."""
        return self.hf(pixel_values=pixel_values).logits


def hf_classes(kind: str):
    """(config class, model class) of a family: "vit" or "deit" (DeiT with its distillation head)."""
    import transformers as tf
    return {"vit": (tf.ViTConfig, tf.ViTForImageClassification),
            "deit": (tf.DeiTConfig, tf.DeiTForImageClassificationWithTeacher)}[kind]


def imagenet_labels() -> dict[int, str]:
    """ImageNet-1k's 1000 class descriptions by index, from timm (comma-separated synonyms)."""
    from timm.data import ImageNetInfo
    info = ImageNetInfo()
    return {i: info.index_to_description(i) for i in range(1000)}


def build_hf_architecture(kind: str, config: dict) -> nn.Module:
    """A Hub architecture with random weights, built offline from the registry's config."""
    config_cls, model_cls = hf_classes(kind)
    id2label = imagenet_labels()
    cfg = config_cls(**config, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    return HFLogits(model_cls(cfg))
