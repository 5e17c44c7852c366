"""Train the embedded CIFAR-10 models: a convnet teacher, a ViT student and a DeiT student.

    python -m vitspace.train --model resnet9-cifar10 --data DIR --out runs/teacher
    python -m vitspace.train --model vit-tiny-cifar10 --data DIR --out runs/vit
    python -m vitspace.train --model deit-tiny-cifar10 --data DIR --out runs/deit \
        --teacher runs/teacher/model.safetensors --distillation hard

Each epoch is checkpointed (`OUT/last.pt`, `--resume` continues exactly), logged to `OUT/log.jsonl`,
and the final weights land in `OUT/model.safetensors` with `OUT/model.json`. Runs under `torchrun`
as DDP (gloo on CPU). Epoch-seeded randomness makes a resumed run equal to an uninterrupted one.

On a CUDA GPU (`--device auto` picks one) the data sit on the GPU and are augmented there, bf16
autocast is on and `--compile` compiles the model; checkpoints hold CPU tensors either way, so a run
started on a GPU resumes or installs on a CPU. On a CPU, bf16 is used only where it is native.
"""
import dataclasses
import functools
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from timm.utils import ModelEmaV3
from tqdm import tqdm

from ..classify.accuracy import evaluate
from ..classify.classifier import Classifier, build_preprocess
from ..data.folders import CIFAR10_MEAN, CIFAR10_STD, TensorDataset, augment_batch, load_split
from ..errors import ConfigError
from ..models.cifar import plain_patch_embed, use_explicit_attention
from ..models.factory import create_model
from ..models.registry import WEIGHTS_DIR, get_spec
from ..util import atomic
from ..util.cpuinfo import machine_class, native_bf16
from .losses import DistillationLoss
from .record import parts

__all__ = ["TrainConfig", "train", "export", "install"]


@dataclass
class TrainConfig:
    model: str = "deit-tiny-cifar10"        # registry name of the architecture to train
    data: str | None = None                 # ImageFolder root with train/ and test/; None fetches CIFAR-10
    out: str = "runs/deit"
    epochs: int = 30
    batch_size: int = 256                   # global, split across DDP ranks
    opt: str = "adamw"                      # adamw | sgd (nesterov)
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: float = 3.0
    label_smoothing: float = 0.1
    distillation: str = "none"              # none | hard | soft
    alpha: float = 0.5                      # weight of the distillation loss
    tau: float = 1.0                        # soft distillation temperature
    kd_reduction: str = "deit"              # soft loss's KL: deit (sum / logits, DeiT's code) | batchmean (sum / batch)
    teacher_view: str = "same"              # same: the teacher scores the student's augmented view (consistent) |
                                            # clean: the un-augmented image (the inconsistent arm of the study)
    teacher: str | None = None              # safetensors of the teacher (registry arch from --teacher-model); also
                                            # without --distillation, to log a ViT's agreement with it each epoch
    teacher_model: str = "resnet9-cifar10"
    stem: str = "conv"                      # conv: the registry's students | patch: DeiT's plain 4x4 patchify
                                            # layer, to measure what the stem does (such runs do not install)
    ema: float = 0.0                        # decay of a moving average of the student's weights (timm's, with
                                            # warm-up; 0: off), evaluated and exported in the student's place
    teacher_tta: bool = False               # flip TTA in the teacher: +0.7 point for 2x its cost per step
    bf16: bool | str = "auto"               # autocast; auto: on CUDA, and on CPUs with AVX512-BF16 or AMX
    device: str = "auto"                    # auto (CUDA when there is a GPU) | cpu | cuda | cuda:N
    compile: bool = False                   # torch.compile the model and teacher: worth it on a GPU
    seed: int = 0
    threads: int | None = None
    limit_train: int | None = None          # train on a random subset (smoke tests)
    limit_test: int | None = None           # also limits --install's evaluation
    eval_every: int = 1
    resume: bool = False
    export_only: bool = False               # write OUT/model.safetensors from OUT/last.pt and stop
    install: bool = False                   # export OUT/last.pt into vitspace/models/weights, evaluated on DATA/test
    install_dir: str | None = None          # where --install writes instead of vitspace/models/weights
    stop_after: int | None = None           # end this invocation after N epochs; --resume continues
    stop_at: int | None = None              # end it at epoch N (none if the run is past it): a run in parts,
                                            # each with its own settings (scripts/train_embedded.sh)


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class PauseClock:
    """perf_counter minus the time the process spent paused by `kill -TSTP PID` (resume with
    `kill -CONT PID`): a run paused to free the CPU for something else still logs its own time."""

    def __init__(self):
        self.paused, self._since = 0.0, None
        if hasattr(signal, "SIGTSTP") and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTSTP, self._stop)
            signal.signal(signal.SIGCONT, self._resume)

    def _stop(self, *_):
        self._since = time.perf_counter()
        os.kill(os.getpid(), signal.SIGSTOP)

    def _resume(self, *_):
        if self._since is not None:
            self.paused += time.perf_counter() - self._since
            self._since = None

    def __call__(self) -> float:
        return time.perf_counter() - self.paused


def _device(name: str) -> torch.device:
    """--device: auto is CUDA when there is a GPU; under torchrun each rank takes GPU LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is visible here; use --device cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def _use_bf16(setting: bool | str, device: torch.device) -> bool:
    """--bf16 auto: on GPUs that have it, and on CPUs where it is native; emulated (AVX2) it ran 7x slower than fp32."""
    if setting == "auto":
        return torch.cuda.is_bf16_supported() if device.type == "cuda" else native_bf16()
    if not isinstance(setting, bool):
        raise ConfigError(f"bf16 must be True, False or 'auto', not {setting!r}")
    return setting


@functools.lru_cache(maxsize=None)
def _stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # made once per device: a host-to-GPU copy in every step would stall it
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1) * 255
    return mean, std


def _normalize(x: torch.Tensor) -> torch.Tensor:
    mean, std = _stats(x.device)
    return (x - mean) / std


def _to_cpu(state):
    """A state dict (nested dicts and lists of tensors) with CPU tensors, so any machine can load it."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: _to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_cpu(v) for v in state)
    return state


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then cosine decay to min_lr."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    # no weight decay on norms, biases, tokens and position embeddings (timm's param_groups_weight_decay)
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


def _build_student(cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    model = create_model(cfg.model, pretrained=False, seed=None)  # train() seeded the generator
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


def _build_teacher(cfg: TrainConfig, device: torch.device) -> torch.nn.Module | None:
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


@torch.no_grad()
def evaluate_tensors(model: torch.nn.Module, ds: TensorDataset, batch_size: int = 500, bf16: bool = True) -> float:
    """Top-1 accuracy of a CIFAR-normalised model on an in-memory data set (on the data's device)."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(ds), batch_size):
        x = _normalize(ds.images[i:i + batch_size].float())
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        correct += (logits.argmax(1) == ds.labels[i:i + batch_size]).sum().item()
    model.train(was_training)
    return correct / len(ds)


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
    """How far the student imitates the teacher on `ds`: the distillation head's top-1 agreement with the
    teacher and its KL divergence from the teacher's distribution (tau 1, per image), and the class
    head's agreement; a ViT's one head stands in for both (the reference a DeiT must beat)."""
    was_training = model.training
    model.eval()
    cls_agree = dist_agree = kl = 0.0
    for i in range(0, len(ds), batch_size):
        x = _normalize(ds.images[i:i + batch_size].float())
        t = teacher_logits[i:i + batch_size]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            cls, dist = (h.float() for h in _heads(model, x))
        cls_agree += (cls.argmax(1) == t.argmax(1)).sum().item()
        dist_agree += (dist.argmax(1) == t.argmax(1)).sum().item()
        kl += torch.nn.functional.kl_div(dist.log_softmax(1), t.log_softmax(1), reduction="sum",
                                         log_target=True).item()
    model.train(was_training)
    n = len(ds)
    return {"teacher_agree": dist_agree / n, "teacher_kl": kl / n, "cls_teacher_agree": cls_agree / n}


@torch.no_grad()
def _teacher_logits(teacher: torch.nn.Module, ds: TensorDataset, batch_size: int = 500) -> torch.Tensor:
    return torch.cat([teacher(_normalize(ds.images[i:i + batch_size].float())).float()
                      for i in range(0, len(ds), batch_size)])


def _distillation_label(cfg: TrainConfig) -> str:
    """The epoch's distillation as the log and the card show it: 'soft, tau 3', plus what differs from DeiT's."""
    if cfg.distillation == "none":
        return "none"
    extra = [f"tau {cfg.tau:g}"] if cfg.distillation == "soft" else []
    extra += ["KL per image"] if cfg.distillation == "soft" and cfg.kd_reduction == "batchmean" else []
    extra += [f"alpha {cfg.alpha:g}"] if cfg.alpha != 0.5 else []
    extra += ["teacher sees the clean image"] if cfg.teacher_view == "clean" else []
    return ", ".join([cfg.distillation, *extra])


def _save_checkpoint(path: Path, **state) -> None:
    with atomic.staged(path) as tmp:
        torch.save(state, tmp)


def _metrics(cfg: TrainConfig, history: list[dict], test_images: int) -> dict:
    by_part = parts(history, cfg.threads)
    return {"test_top1": history[-1].get("test_acc") if history else None, "test_images": test_images,
            "epochs_done": len(history), "epochs": cfg.epochs, "complete": len(history) == cfg.epochs,
            "train_seconds": round(sum(h["epoch_s"] for h in history), 1),
            "mean_images_per_s": round(sum(h["images_per_s"] for h in history) / max(1, len(history)), 1),
            "machines": sorted({h["machine"] for h in history if "machine" in h}),  # older runs did not log it
            "cpu_hours": round(sum(p.cpu_hours for p in by_part), 2),
            "parts": [dataclasses.asdict(p) for p in by_part]}


def export(run: str | Path, dest: str | Path | None = None, name: str = "model") -> Path:
    """A run's last checkpoint as DEST/NAME.safetensors with NAME.json (config, labels, metrics)."""
    run = Path(run)
    ckpt = torch.load(run / "last.pt", weights_only=False, map_location="cpu")
    cfg = TrainConfig(**ckpt["config"])
    dest = Path(dest or run)
    dest.mkdir(parents=True, exist_ok=True)
    # float16 halves the committed files; loading casts back to float32 (accuracy unchanged to 0.1 point)
    weights = ckpt.get("ema") or ckpt["model"]  # the average, where the run kept one
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    save_file(state, str(dest / f"{name}.safetensors"))
    spec = get_spec(cfg.model)
    meta = {"model": cfg.model, "labels": list(spec.labels), "pretrained_cfg": spec.data_cfg, "dtype": "float16",
            "params": sum(v.numel() for v in weights.values()), "train_config": ckpt["config"],
            "metrics": _metrics(cfg, ckpt["history"], ckpt.get("test_images")), "history": ckpt["history"]}
    atomic.write_text(dest / f"{name}.json", json.dumps(meta, indent=2))
    return dest / f"{name}.safetensors"


def _classifier(name: str, weights: Path):
    """The registry's classifier for `name` (its preprocessing and labels) with the weights in `weights`."""
    spec = get_spec(name)
    module = spec.build()
    module.load_state_dict(load_file(str(weights)))
    return Classifier(spec, module.eval(), build_preprocess(spec), list(spec.labels), origin="local")


def install(run: str | Path, data: str | Path | None = None, dest: str | Path | None = None,
            limit: int | None = None) -> Path:
    """Export a run into the package (vitspace/models/weights/<model>.*, or DEST), with `vitspace.classify.accuracy` on
    DATA/test (at most `limit` images) and the machine that evaluated it."""
    config = torch.load(Path(run) / "last.pt", weights_only=False, map_location="cpu")["config"]
    if config.get("stem", "conv") != "conv":
        raise ConfigError(f"{run} trained a --stem {config['stem']} student; {config['model']} has the convolutional "
                          "stem, so only its run folder holds these weights (--export-only)")
    model = config["model"]
    path = export(run, dest or WEIGHTS_DIR, model)
    if data:
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text())
        result = evaluate(_classifier(model, path), str(Path(data) / "test"), limit=limit)
        meta["evaluate"] = {**dataclasses.asdict(result), "model": model, "machine": machine_class()}
        atomic.write_text(meta_path, json.dumps(meta, indent=2))
    return path


def train(cfg: TrainConfig) -> dict:
    """Train cfg.model; returns the final metrics. Resumable from OUT/last.pt."""
    rank, world = _dist_info()
    device = _device(cfg.device)
    cfg = dataclasses.replace(cfg, bf16=_use_bf16(cfg.bf16, device))  # checkpoints record the choice
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN times its convolutions once
        torch.set_float32_matmul_precision("high")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_ds, test_ds = load_split(cfg.data, "train"), load_split(cfg.data, "test")
    if cfg.limit_train:
        train_ds = train_ds.subset(cfg.limit_train, seed=cfg.seed)
    if cfg.limit_test:
        test_ds = test_ds.subset(cfg.limit_test, seed=cfg.seed)
    train_ds, test_ds = train_ds.to(device), test_ds.to(device)
    steps_per_epoch = len(train_ds) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"--batch-size {cfg.batch_size} is larger than the {len(train_ds)} training images")

    torch.manual_seed(cfg.seed)
    model = _build_student(cfg, device)
    teacher = _build_teacher(cfg, device)
    criterion = DistillationLoss(torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), teacher,
                                 cfg.distillation, cfg.alpha, cfg.tau, cfg.kd_reduction)
    if cfg.teacher_view not in ("same", "clean"):
        raise ConfigError(f"--teacher-view {cfg.teacher_view}: same or clean")
    teacher_test = _teacher_logits(teacher, test_ds) if teacher is not None else None
    opt = _optimizer(cfg, model)
    ema = ModelEmaV3(model, decay=cfg.ema, use_warmup=True) if cfg.ema else None
    start_epoch, history = 0, []
    ckpt_path = out / "last.pt"
    if cfg.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])  # moves the moments to the parameters' device
        if ema:
            ema.module.load_state_dict(ckpt.get("ema") or ckpt["model"])  # a run that starts its average late
        start_epoch, history = ckpt["epoch"], ckpt["history"]
        if rank == 0:
            print(f"resumed {cfg.model} from {ckpt_path} at epoch {start_epoch}", flush=True)
    forward = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.compile:
        forward = torch.compile(forward)  # checkpoints save `model`: no _orig_mod. in their keys
    machine = machine_class(device)
    if rank == 0:
        print(f"{cfg.model} on {machine} ({device}), {'bf16' if cfg.bf16 else 'fp32'}, "
              f"compile {cfg.compile}, batch {cfg.batch_size}", flush=True)

    per_rank = cfg.batch_size // world
    log = open(out / "log.jsonl", "a") if rank == 0 else None
    end_epoch = min(cfg.epochs, start_epoch + (cfg.stop_after or cfg.epochs), cfg.stop_at or cfg.epochs)
    clock = PauseClock()
    for epoch in range(start_epoch, end_epoch):
        seed = cfg.seed * 100_003 + epoch
        torch.manual_seed(seed)  # drop-path and augmentation, identical on resume
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(train_ds), generator=gen).to(device)
        augment_gen = gen if device.type == "cpu" else torch.Generator(device).manual_seed(seed)
        model.train()
        t0, paused, seen, cpu0 = clock(), clock.paused, 0, time.process_time()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        bar = tqdm(range(steps_per_epoch), desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}",
                   disable=rank != 0, mininterval=1 if sys.stderr.isatty() else 60)
        for step in bar:
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, epoch * steps_per_epoch + step, steps_per_epoch)
            idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size][rank * per_rank:(rank + 1) * per_rank]
            x = _normalize(augment_batch(train_ds.images[idx], generator=augment_gen))
            y = train_ds.labels[idx]
            seen_by_teacher = x if cfg.teacher_view == "same" else _normalize(train_ds.images[idx].float())
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                outputs = forward(x)
                loss = criterion(seen_by_teacher, outputs, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema:
                ema.update(model, step=epoch * steps_per_epoch + step + 1)
            logits = outputs[0] if isinstance(outputs, tuple) else outputs
            seen += len(y)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            if step % 25 == 0:  # .item() waits for the GPU: not every step
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}", refresh=False)
        train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen  # waits for the last step
        elapsed = clock() - t0
        record = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc,
                  "images_per_s": seen * world / elapsed, "epoch_s": elapsed, "lr": opt.param_groups[0]["lr"],
                  "device": str(device), "machine": machine, "bf16": cfg.bf16,
                  "threads": torch.get_num_threads(), "cpu_s": round(time.process_time() - cpu0, 1),
                  "distillation": _distillation_label(cfg)}
        if clock.paused > paused:
            record["paused_s"] = round(clock.paused - paused, 1)  # left out of epoch_s
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            record["test_acc"] = evaluate_tensors(ema.module if ema else model, test_ds, bf16=cfg.bf16)
            if teacher_test is not None:
                record |= {k: round(v, 5) for k, v in teacher_agreement(ema.module if ema else model, teacher_test,
                                                                         test_ds, bf16=cfg.bf16).items()}
        history.append(record)
        if rank == 0:
            print(json.dumps(record), file=log, flush=True)
            print(json.dumps(record), flush=True)
            _save_checkpoint(ckpt_path, model=_to_cpu(model.state_dict()), opt=_to_cpu(opt.state_dict()),
                             ema=_to_cpu(ema.module.state_dict()) if ema else None, epoch=epoch + 1,
                             history=history, config=dataclasses.asdict(cfg),
                             test_images=len(test_ds))
    if rank == 0:
        log.close()
        if end_epoch == cfg.epochs:
            export(out)
    return _metrics(cfg, history, len(test_ds))
