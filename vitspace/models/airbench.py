"""The airbench-style CIFAR-10 convnet, the stronger distillation teacher, and its test-time augmentation.

Follows Keller Jordan's airbench94 (2024, "94% on CIFAR-10 in 3.29 seconds", KellerJordan/cifar10-airbench): a
frozen 2x2 patch-whitening convolution (set from the training patches by `vitspace.train.airbench`), three conv
groups (conv, max-pool, BatchNorm with frozen weights and trained biases, GELU; widths 64/256/256), logits scaled
by 1/9, dirac-initialised convolutions. It takes the same CIFAR-normalised input as the students
(vitspace.data.folders.CIFAR10_MEAN/STD). `python -m vitspace.train.airbench` trains it.
"""
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AirbenchCifar", "WIDTHS"]

WIDTHS = (64, 256, 256)  # airbench94's conv groups: the registry's network


class _BatchNorm(nn.BatchNorm2d):
    """airbench's BatchNorm: weight frozen at 1, bias trained, eps 1e-12; `momentum` in airbench's sense
    (the running statistics keep `momentum` of their value each step: PyTorch's momentum is 1 - it)."""

    def __init__(self, num_features: int, momentum: float = 0.6, eps: float = 1e-12):
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad_(False)


class _Conv(nn.Conv2d):
    """A 'same' convolution (3x3 unless told), without bias unless told, dirac-initialised on its first
    in_channels filters."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, padding="same", bias: bool = False):
        super().__init__(c_in, c_out, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self):
        """torch's initialisation, then a zero bias and identity filters for the first in_channels outputs."""
        super().reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        w = self.weight.data
        nn.init.dirac_(w[:w.size(1)])


class _ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int, bn_momentum: float):
        super().__init__()
        self.conv1 = _Conv(c_in, c_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _BatchNorm(c_out, bn_momentum)
        self.conv2 = _Conv(c_out, c_out)
        self.norm2 = _BatchNorm(c_out, bn_momentum)
        self.activ = nn.GELU()

    def forward(self, x):
        """conv, max-pool, BN, GELU, then conv, BN, GELU: half the resolution."""
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class AirbenchCifar(nn.Module):
    """airbench94's network for 32x32 CIFAR-normalised images.

    In eval mode with `tta` on, forward returns the test-time-augmented logits: `tta_level` 1 averages the
    image and its mirror image, 2 (airbench's) also the image translated one pixel up-left and down-right
    (weights 1/2 on the untranslated pair, 1/4 on each translated pair; 6 views). `flip_tta` is an alias
    of `tta`, so `python -m vitspace.train --teacher-tta` switches it as it does ResNetCifar's.

    Args:
        num_classes: outputs of the head.
        widths: the three conv groups' widths.
        bn_momentum: what the BatchNorm running statistics keep of their value each step (airbench's sense).
        scale: the logits' scale.
        tta: test-time augmentation in eval mode.
        tta_level: 1 (mirror) or 2 (mirror and translation).
    """

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = WIDTHS,
                 bn_momentum: float = 0.6, scale: float = 1 / 9, tta: bool = True, tta_level: int = 2):
        super().__init__()
        self.tta, self.tta_level, self.scale = tta, tta_level, scale
        whiten_width = 2 * 3 * 2 * 2  # each 2x2x3 patch's eigenvectors, and their negatives
        self.whiten = _Conv(3, whiten_width, kernel_size=2, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)  # set from the data (train.airbench.init_whitening), never trained
        self.activ = nn.GELU()
        c = [whiten_width, *widths]
        self.layers = nn.Sequential(*[_ConvGroup(c[i], c[i + 1], bn_momentum) for i in range(3)])
        self.pool = nn.MaxPool2d(3)
        self.head = nn.Linear(widths[-1], num_classes, bias=False)

    @property
    def flip_tta(self) -> bool:
        """The same switch as `tta`, under ResNetCifar's name."""
        return self.tta

    @flip_tta.setter
    def flip_tta(self, on: bool):
        self.tta = on

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The plain forward pass, whatever the mode: logits (B, num_classes) of images (B, 3, 32, 32)."""
        x = self.pool(self.layers(self.activ(self.whiten(x))))
        return self.head(x.flatten(1)) * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes); in eval mode with `tta`, averaged over the views `tta_level` names."""
        if not self.tta or self.training or self.tta_level < 1:
            return self.logits(x)
        b = len(x)
        views = [x]
        weights = [1.0]
        if self.tta_level >= 2:
            h, w = x.shape[-2:]
            padded = F.pad(x, (1,) * 4, mode="reflect")
            views += [padded[..., :h, :w], padded[..., 2:, 2:]]
            weights = [0.5, 0.25, 0.25]
        views = torch.cat(views + [v.flip(-1) for v in views])  # BN uses running statistics: one batch
        weights = torch.tensor(weights * 2, dtype=x.dtype, device=x.device) / 2
        out = self.logits(views).view(len(weights), b, -1)
        return (out * weights.view(-1, 1, 1)).sum(0)
