"""DeiT's distillation loss (Touvron et al. 2021, facebookresearch/deit `losses.py`)."""
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["DistillationLoss"]


class DistillationLoss(nn.Module):
    """Base loss on the class head plus a distillation loss on the distillation head.

    Args:
        base_criterion: loss of the class logits against the labels.
        teacher: a convnet, run in eval mode without gradients; may be None when mode is "none".
        mode: "none" (plain training), "hard" (cross-entropy against the teacher's argmax, the
            paper's default) or "soft" (KL divergence of tempered distributions).
        alpha: weight of the distillation loss; the base loss gets 1 - alpha.
        tau: temperature of soft distillation.
        reduction: how the soft loss's summed KL is scaled: "deit" divides by the number of logits
            (batch x classes, as DeiT's code does), "batchmean" by the batch (Hinton et al.'s KL per
            image): with 10 classes "deit" makes the distillation term ten times smaller.
    """

    def __init__(self, base_criterion: nn.Module, teacher: nn.Module | None, mode: str = "hard",
                 alpha: float = 0.5, tau: float = 1.0, reduction: str = "deit"):
        super().__init__()
        if mode not in ("none", "soft", "hard"):
            raise ConfigError(f"distillation mode must be 'none', 'soft' or 'hard', not {mode!r}")
        if mode != "none" and teacher is None:
            raise ConfigError(f"{mode} distillation needs a teacher model")
        if reduction not in ("deit", "batchmean"):
            raise ConfigError(f"KL reduction must be 'deit' or 'batchmean', not {reduction!r}")
        self.base_criterion, self.mode, self.alpha, self.tau = base_criterion, mode, alpha, tau
        self.reduction = reduction
        self.teacher = teacher.eval().requires_grad_(False) if teacher is not None else None

    def forward(self, inputs: torch.Tensor, outputs, labels: torch.Tensor) -> torch.Tensor:
        """`inputs` is what the teacher sees: the student's own (augmented) view, for a consistent teacher."""
        outputs_kd = None
        if isinstance(outputs, (tuple, list)):
            outputs, outputs_kd = outputs
        base_loss = self.base_criterion(outputs, labels)
        if self.mode == "none":
            return base_loss
        if outputs_kd is None:
            raise ValueError("distillation needs the student to return (class logits, distillation logits): "
                             "a DeiT model with set_distilled_training(True), in train mode")
        self.teacher.eval()  # a caller's model.train() must never reach the teacher
        with torch.no_grad():
            teacher_outputs = self.teacher(inputs).float()
        if self.mode == "soft":
            t = self.tau
            # times T^2 (Hinton et al.); DeiT divides the summed KL by the number of logits, not the batch
            per = outputs_kd.numel() if self.reduction == "deit" else outputs_kd.shape[0]
            kd = F.kl_div(F.log_softmax(outputs_kd.float() / t, dim=1), F.log_softmax(teacher_outputs / t, dim=1),
                          reduction="sum", log_target=True) * (t * t) / per
        else:
            kd = F.cross_entropy(outputs_kd.float(), teacher_outputs.argmax(dim=1))
        return base_loss * (1 - self.alpha) + kd * self.alpha
