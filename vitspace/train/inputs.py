"""The training and test images, held on the training device as uint8, and their CIFAR-10 normalisation."""
import functools

import torch

from ..data.folders import CIFAR10_MEAN, CIFAR10_STD, TensorDataset, load_split
from ..errors import ConfigError
from .config import TrainConfig

__all__ = ["load_data", "steps_per_epoch", "normalize"]


def load_data(cfg: TrainConfig, device: torch.device) -> tuple[TensorDataset, TensorDataset]:
    """The train and test splits of `cfg.data`, cut to --limit-train and --limit-test.

    Args:
        cfg: the run's settings (data, limit_train, limit_test, seed).
        device: where the images will be augmented and fed to the model; on a GPU no loader is needed.

    Returns:
        (train, test), on `device`.
    """
    train_ds, test_ds = load_split(cfg.data, "train"), load_split(cfg.data, "test")
    if cfg.limit_train:
        train_ds = train_ds.subset(cfg.limit_train, seed=cfg.seed)
    if cfg.limit_test:
        test_ds = test_ds.subset(cfg.limit_test, seed=cfg.seed)
    return train_ds.to(device), test_ds.to(device)


def steps_per_epoch(cfg: TrainConfig, train_ds: TensorDataset) -> int:
    """Full global batches in an epoch; the last, partial one is dropped."""
    steps = len(train_ds) // cfg.batch_size
    if steps == 0:
        raise ConfigError(f"--batch-size {cfg.batch_size} is larger than the {len(train_ds)} training images")
    return steps


@functools.lru_cache(maxsize=None)
def _stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # made once per device: a host-to-GPU copy in every step would stall it
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1) * 255
    return mean, std


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Images in 0-255 (B, 3, H, W) normalised with CIFAR-10's mean and std, on their own device."""
    mean, std = _stats(x.device)
    return (x - mean) / std
