"""What each epoch's evaluation measures on the in-memory test images: top-1, and how far the student
imitates its teacher."""
from collections.abc import Callable

import torch

from ..data.folders import TensorDataset
from .inputs import normalize

__all__ = ["evaluate_tensors", "logits_of", "teacher_agreement"]


def evaluate_tensors(model: torch.nn.Module, ds: TensorDataset, batch_size: int = 500, bf16: bool = True) -> float:
    """Top-1 accuracy of a CIFAR-normalised model on an in-memory data set.

    Args:
        model: a classifier of normalised images; its train or eval mode is restored afterwards.
        ds: uint8 images and labels, on the device the model runs on.
        batch_size: images per forward pass.
        bf16: autocast to bf16, as the run trained.

    Returns:
        The fraction of `ds` whose label is the model's argmax.
    """
    was_training = model.training
    predicted = logits_of(model.eval(), ds, batch_size, bf16).argmax(1)
    model.train(was_training)
    return (predicted == ds.labels).sum().item() / len(ds)


@torch.no_grad()
def _heads(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(class head, distillation head) logits of a DeiT; a ViT's one head twice."""
    if not hasattr(model, "head_dist"):
        return (model(x),) * 2
    tokens = model.forward_features(x)
    return model.head(tokens[:, 0]), model.head_dist(tokens[:, 1])


@torch.no_grad()
def teacher_agreement(model: torch.nn.Module, teacher_logits: torch.Tensor, ds: TensorDataset,
                      batch_size: int = 500, bf16: bool = True) -> dict:
    """How far the student imitates the teacher on `ds`; a ViT's one head stands in for both of a DeiT's
    (the reference a DeiT must beat).

    Args:
        model: the student; its train or eval mode is restored afterwards.
        teacher_logits: the teacher's logits on `ds` (`logits_of(teacher, ds)`), (N, classes).
        ds: uint8 images, on the model's device.
        batch_size: images per forward pass.
        bf16: autocast to bf16, as the run trained.

    Returns:
        `teacher_agree`: the distillation head's top-1 agreement with the teacher; `teacher_kl`: its KL
        divergence from the teacher's distribution (tau 1, per image); `cls_teacher_agree`: the class head's
        agreement; `teacher_mistakes_shared`: on the images the teacher gets wrong, how often the distillation
        head gives the teacher's wrong answer (imitation beyond what the labels teach; 0 when the teacher
        makes no mistake).
    """
    was_training = model.training
    model.eval()
    heads = logits_of(lambda x: torch.stack(_heads(model, x), 1), ds, batch_size, bf16)  # (N, 2, classes)
    model.train(was_training)
    cls, dist, t = heads[:, 0], heads[:, 1], teacher_logits.argmax(1)
    said, wrong, n = dist.argmax(1), t != ds.labels, len(ds)
    dist_agree, cls_agree = (said == t).sum().item(), (cls.argmax(1) == t).sum().item()
    kl = torch.nn.functional.kl_div(dist.log_softmax(1), teacher_logits.log_softmax(1), reduction="sum",
                                    log_target=True).item()
    mistakes, shared = wrong.sum().item(), (said[wrong] == t[wrong]).sum().item()
    return {"teacher_agree": dist_agree / n, "teacher_kl": kl / n, "cls_teacher_agree": cls_agree / n,
            "teacher_mistakes_shared": shared / mistakes if mistakes else 0.0}


@torch.no_grad()
def logits_of(model: Callable[[torch.Tensor], torch.Tensor], ds: TensorDataset, batch_size: int = 500,
              bf16: bool = False) -> torch.Tensor:
    """A model's (or any forward's) float logits on every image of `ds`, in the mode it is in: the teacher's are
    computed once per run; `bf16` autocasts, as a run that trained in bf16 evaluates."""
    out = []
    for i in range(0, len(ds), batch_size):
        x = normalize(ds.images[i:i + batch_size].float())
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model(x).float())
    return torch.cat(out)
