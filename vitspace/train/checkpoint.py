"""A run's checkpoint, RUN/last.pt: saved after every epoch as CPU tensors, loaded to resume exactly."""
import dataclasses
from pathlib import Path

import torch

from ..util import atomic
from .config import TrainConfig
from .setup import Learner

__all__ = ["CHECKPOINT", "load_checkpoint", "resume", "save_checkpoint"]

CHECKPOINT = "last.pt"


def _to_cpu(state):
    """A state dict (nested dicts and lists of tensors) with CPU tensors, so any machine can load it."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: _to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_cpu(v) for v in state)
    return state


def save_checkpoint(path: Path, learner: Learner, *, epoch: int, history: list[dict], cfg: TrainConfig,
                    test_images: int) -> None:
    """Write the student, optimizer and moving average after `epoch`, atomically.

    Args:
        path: the checkpoint file (RUN/last.pt).
        learner: what trains; its state is saved as CPU tensors, so a GPU run resumes or installs on a CPU.
        epoch: epochs done.
        history: every epoch's log record so far.
        cfg: the run's settings, saved as a dict (`TrainConfig.from_dict` reads it back).
        test_images: how many test images each evaluation scored.
    """
    state = dict(model=_to_cpu(learner.model.state_dict()), opt=_to_cpu(learner.opt.state_dict()),
                 ema=_to_cpu(learner.ema.module.state_dict()) if learner.ema else None, epoch=epoch,
                 history=history, config=dataclasses.asdict(cfg), test_images=test_images)
    with atomic.staged(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(run: str | Path) -> dict:
    """RUN/last.pt, on the CPU: model, opt, ema (None without one), epoch, history, config, test_images."""
    return torch.load(Path(run) / CHECKPOINT, weights_only=False, map_location="cpu")


def resume(run: str | Path, learner: Learner) -> tuple[int, list[dict]]:
    """Load RUN/last.pt's state into `learner`.

    Returns:
        (epochs done, their log records), for the run to continue from.
    """
    ckpt = load_checkpoint(run)
    learner.model.load_state_dict(ckpt["model"])
    learner.opt.load_state_dict(ckpt["opt"])  # moves the moments to the parameters' device
    if learner.ema:
        learner.ema.module.load_state_dict(ckpt.get("ema") or ckpt["model"])  # a run that starts its average late
    return ckpt["epoch"], ckpt["history"]
