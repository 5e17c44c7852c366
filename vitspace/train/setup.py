"""What a run sets up before its first step: the device and precision, the student and its teacher, the loss,
the optimizer and its learning-rate schedule, the weights' moving average, DDP and compilation."""
import dataclasses
import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from safetensors import SafetensorError
from safetensors.torch import load_file
from timm.utils import ModelEmaV3

from ..errors import ConfigError
from ..models.cifar import plain_patch_embed, use_explicit_attention
from ..models.factory import create_model
from ..util.cpuinfo import machine_class, native_bf16
from .config import TrainConfig
from .losses import DistillationLoss

__all__ = ["Learner", "Placement", "build_learner", "build_optimizer", "build_student", "build_teacher", "load_start",
           "lr_at", "prepare", "rank_and_world", "resolve_device", "use_bf16", "wrap"]


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, the number of processes): (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(name: str) -> torch.device:
    """The device --device names: auto is CUDA when there is a GPU; under torchrun each rank takes GPU LOCAL_RANK.

    Args:
        name: auto, cpu, cuda or cuda:N.

    Raises:
        ConfigError: a CUDA device asked for where no GPU is visible.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is visible here; use --device cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def use_bf16(setting: bool | str, device: torch.device) -> bool:
    """Whether to autocast to bf16: on GPUs that have it and on CPUs where it is native, for auto (emulated, on
    AVX2, it ran 7x slower than fp32).

    Args:
        setting: --bf16 (True), --no-bf16 (False) or "auto".
        device: the training device.
    """
    if setting == "auto":
        return torch.cuda.is_bf16_supported() if device.type == "cuda" else native_bf16()
    if not isinstance(setting, bool):
        raise ConfigError(f"bf16 must be True, False or 'auto', not {setting!r}")
    return setting


@dataclass(frozen=True)
class Placement:
    """Where this process trains."""
    device: torch.device
    rank: int       # this process's among `world` under torchrun; rank 0 logs and saves
    world: int
    machine: str    # machine_class(device), as the log records it


def prepare(cfg: TrainConfig) -> tuple[TrainConfig, Placement]:
    """Pick the device and precision and set torch up for them.

    Returns:
        cfg with bf16 decided (checkpoints record the choice), and where this process trains.
    """
    device = resolve_device(cfg.device)
    cfg = dataclasses.replace(cfg, bf16=use_bf16(cfg.bf16, device))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN times its convolutions once
        torch.set_float32_matmul_precision("high")
    rank, world = rank_and_world()
    return cfg, Placement(device, rank, world, machine_class(device))


def build_student(cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    """cfg.model, freshly initialised from torch's generator, on `device`.

    Args:
        cfg: the run's settings: model, and the stem (conv, or DeiT's patch) and distillation it asks for.
        device: the training device; on a CPU the attention is explicit, on a GPU fused.

    Raises:
        ConfigError: a stem the model cannot take, or distillation into a model without a distillation token.
    """
    model = create_model(cfg.model, pretrained=False, seed=None)  # build_learner seeded the generator
    if cfg.stem not in ("conv", "patch") or (cfg.stem == "patch" and not hasattr(model, "patch_embed")):
        raise ConfigError(f"--stem {cfg.stem}: conv, or patch for a ViT or DeiT student")
    if cfg.stem == "patch":
        model.patch_embed = plain_patch_embed()
    if device.type == "cpu":
        use_explicit_attention(model)  # on a GPU the fused kernel (flash attention) is the fast one
    if cfg.distillation != "none":
        if not hasattr(model, "set_distilled_training"):
            raise ConfigError(f"{cfg.model} has no distillation token; distil a DeiT model (deit-tiny-cifar10)")
        model.set_distilled_training(True)
    if device.type == "cuda":
        model.to(device, memory_format=torch.channels_last)  # tensor cores' layout for the convolutions
    return model


def load_start(model: torch.nn.Module, path: str) -> None:
    """Load the weights a run starts from (--init-from) into `model`, cast to its dtype (installed weights are
    float16).

    Raises:
        ConfigError: no such file, or weights of another architecture.
    """
    try:
        state = load_file(path)
    except (OSError, SafetensorError) as e:
        raise ConfigError(f"--init-from {path}: cannot read these weights ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise ConfigError(f"--init-from {path}: these weights are not a {type(model).__name__} of this run's "
                          f"architecture ({first})") from None


def build_teacher(cfg: TrainConfig, device: torch.device) -> torch.nn.Module | None:
    """The teacher from cfg.teacher (a cfg.teacher_model), in eval mode on `device` and compiled for --compile.

    Returns:
        The teacher, or None when the run has none.

    Raises:
        ConfigError: --distillation without --teacher.
    """
    if not cfg.teacher and cfg.distillation == "none":
        return None
    if not cfg.teacher:
        raise ConfigError("--distillation needs --teacher PATH.safetensors (train one with --model resnet9-cifar10)")
    teacher = create_model(cfg.teacher_model, pretrained=False)
    teacher.load_state_dict(load_file(cfg.teacher))
    if hasattr(teacher, "flip_tta"):
        teacher.flip_tta = cfg.teacher_tta
    teacher = teacher.eval().to(device, memory_format=torch.channels_last)  # 1.5x faster bf16 convolutions on CPU
    return torch.compile(teacher) if cfg.compile else teacher


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW or Nesterov SGD (cfg.opt) over `model`'s parameters, without weight decay on norms, biases, tokens
    and position embeddings (timm's param_groups_weight_decay)."""
    decay = [p for p in model.parameters() if p.ndim > 1 and p.requires_grad]
    no_decay = [p for p in model.parameters() if p.ndim <= 1 and p.requires_grad]
    no_decay += [p for n, p in model.named_parameters() if n in ("cls_token", "dist_token", "pos_embed")]
    decay = [p for p in decay if not any(p is q for q in no_decay)]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.opt == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.opt == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    raise ConfigError(f"unknown optimizer {cfg.opt!r}: use 'adamw' or 'sgd'")


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate at a step: linear warm-up, then cosine decay to min_lr at the end of the run.

    Args:
        cfg: the run's settings (lr, min_lr, warmup_epochs, epochs).
        step: steps done since the run began, counting from 0.
        steps_per_epoch: optimisation steps in an epoch.
    """
    warm = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


@dataclass
class Learner:
    """The student and what trains it."""
    model: torch.nn.Module           # the student itself: what checkpoints save, never wrapped
    teacher: torch.nn.Module | None
    criterion: DistillationLoss
    opt: torch.optim.Optimizer
    ema: ModelEmaV3 | None

    @property
    def scored(self) -> torch.nn.Module:
        """What is evaluated and saved as the run's weights: the moving average where the run keeps one."""
        return self.ema.module if self.ema else self.model


def build_learner(cfg: TrainConfig, device: torch.device) -> Learner:
    """The student initialised from cfg.seed, its teacher, loss, optimizer and moving average, on `device`.

    Raises:
        ConfigError: a setting the student, teacher, loss or optimizer cannot take.
    """
    torch.manual_seed(cfg.seed)
    model = build_student(cfg, device)
    if cfg.init_from:
        load_start(model, cfg.init_from)
    teacher = build_teacher(cfg, device)
    criterion = DistillationLoss(torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), teacher,
                                 cfg.distillation, cfg.alpha, cfg.tau, cfg.kd_reduction)
    if cfg.teacher_view not in ("same", "clean"):
        raise ConfigError(f"--teacher-view {cfg.teacher_view}: same or clean")
    opt = build_optimizer(cfg, model)
    ema = ModelEmaV3(model, decay=cfg.ema, use_warmup=True) if cfg.ema else None
    return Learner(model, teacher, criterion, opt, ema)


def wrap(model: torch.nn.Module, cfg: TrainConfig, place: Placement) -> torch.nn.Module:
    """What the training step calls: the student in DDP under torchrun, compiled for --compile. The student
    itself stays unwrapped, so checkpoints hold neither `module.` nor `_orig_mod.` in their keys."""
    forward = model
    if place.world > 1:
        ids = [place.device.index] if place.device.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(forward) if cfg.compile else forward
