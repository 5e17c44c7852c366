"""The training loop: `train()` sets a run up, resumes it, then runs `train_one_epoch` and `validate` epoch by
epoch, checkpointing and logging each, and saves the weights at the end.

Epoch-seeded randomness (order, augmentation, drop-path) makes a resumed run equal to an uninterrupted one.
"""
import contextlib
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.folders import TensorDataset, augment_batch
from .checkpoint import CHECKPOINT, resume, save_checkpoint
from .clock import PauseClock
from .config import TrainConfig, end_epoch
from .inputs import load_data, normalize, steps_per_epoch
from .metrics import evaluate_tensors, logits_of, teacher_agreement
from .record import summary
from .setup import Learner, Placement, build_learner, lr_at, prepare, wrap
from .weights import save_weights

__all__ = ["train", "train_one_epoch", "validate"]


def _distillation_label(cfg: TrainConfig) -> str:
    """The epoch's distillation as the log and the card show it: 'soft, tau 3', plus what differs from DeiT's."""
    if cfg.distillation == "none":
        return "none"
    extra = [f"tau {cfg.tau:g}"] if cfg.distillation == "soft" else []
    extra += ["KL per image"] if cfg.distillation == "soft" and cfg.kd_reduction == "batchmean" else []
    extra += [f"alpha {cfg.alpha:g}"] if cfg.alpha != 0.5 else []
    extra += ["teacher sees the clean image"] if cfg.teacher_view == "clean" else []
    extra += [f"teacher {cfg.teacher_model}"] if cfg.teacher_model != TrainConfig.teacher_model else []
    return ", ".join([cfg.distillation, *extra])


def _epoch_order(cfg: TrainConfig, epoch: int, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Generator]:
    """The epoch's order of the `n` training images and its augmentation generator, both from the epoch's seed;
    torch's own generator (drop-path) is seeded too."""
    seed = cfg.seed * 100_003 + epoch
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen).to(device)
    return perm, gen if device.type == "cpu" else torch.Generator(device).manual_seed(seed)


def _step(cfg: TrainConfig, learner: Learner, forward: torch.nn.Module, x: torch.Tensor, teacher_x: torch.Tensor,
          y: torch.Tensor, step: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step at global `step` (of `steps` per epoch); the class logits and the loss."""
    opt = learner.opt
    for g in opt.param_groups:
        g["lr"] = lr_at(cfg, step, steps)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        outputs = forward(x)
        loss = learner.criterion(teacher_x, outputs, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if learner.ema:
        learner.ema.update(learner.model, step=step + 1)
    return (outputs[0] if isinstance(outputs, tuple) else outputs), loss.detach()


def train_one_epoch(epoch: int, cfg: TrainConfig, learner: Learner, forward: torch.nn.Module, data: TensorDataset,
                    steps: int, place: Placement, clock: PauseClock) -> dict:
    """Train on one epoch of `data`: this rank's share of each global batch, augmented, for `steps` steps.

    Args:
        epoch: the epoch's index from 0; it seeds the order and augmentation.
        cfg: the run's settings.
        learner: the student, loss, optimizer and moving average.
        forward: what the step calls (`setup.wrap(learner.model)`).
        data: the training images, on the training device.
        steps: steps per epoch.
        place: the device, this rank and the world size.
        clock: the run's clock; time paused (SIGTSTP) is left out of the epoch's.

    Returns:
        The epoch's log record: mean loss and accuracy on the augmented batches, speed, time and CPU time,
        the last learning rate, where it ran and its distillation.
    """
    perm, augment_gen = _epoch_order(cfg, epoch, len(data), place.device)
    per_rank = cfg.batch_size // place.world
    learner.model.train()
    t0, paused, seen, cpu0 = clock(), clock.paused, 0, time.process_time()
    loss_sum = torch.zeros((), dtype=torch.float64, device=place.device)
    correct = torch.zeros((), dtype=torch.int64, device=place.device)
    bar = tqdm(range(steps), desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}", disable=place.rank != 0,
               mininterval=1 if sys.stderr.isatty() else 60)
    for step in bar:
        batch = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        idx = batch[place.rank * per_rank:(place.rank + 1) * per_rank]  # this rank's share
        x = normalize(augment_batch(data.images[idx], generator=augment_gen))
        y = data.labels[idx]
        teacher_x = x if cfg.teacher_view == "same" else normalize(data.images[idx].float())
        logits, loss = _step(cfg, learner, forward, x, teacher_x, y, epoch * steps + step, steps)
        seen += len(y)
        loss_sum += loss * len(y)
        correct += (logits.argmax(1) == y).sum()
        if step % 25 == 0:  # .item() waits for the GPU: not every step
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}", refresh=False)
    train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen  # waits for the last step
    elapsed = clock() - t0
    record = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc,
              "images_per_s": seen * place.world / elapsed, "epoch_s": elapsed, "lr": learner.opt.param_groups[0]["lr"],
              "device": str(place.device), "machine": place.machine, "bf16": cfg.bf16,
              "threads": torch.get_num_threads(), "cpu_s": round(time.process_time() - cpu0, 1),
              "distillation": _distillation_label(cfg)}
    if clock.paused > paused:
        record["paused_s"] = round(clock.paused - paused, 1)  # left out of epoch_s
    return record


def validate(model: torch.nn.Module, test: TensorDataset, teacher_test: torch.Tensor | None, bf16: bool) -> dict:
    """Score the model on the test images.

    Args:
        model: what the run scores (the moving average where it keeps one).
        test: the test images, on the model's device.
        teacher_test: the teacher's logits on `test`, or None without a teacher.
        bf16: autocast to bf16, as the run trained.

    Returns:
        `test_acc`, and with a teacher, the student's agreement with it (`metrics.teacher_agreement`).
    """
    result = {"test_acc": evaluate_tensors(model, test, bf16=bf16)}
    if teacher_test is not None:
        result |= {k: round(v, 5) for k, v in teacher_agreement(model, teacher_test, test, bf16=bf16).items()}
    return result


def _earlier_history(cfg: TrainConfig) -> list[dict]:
    """The records of the epochs that made --init-from's weights, from the JSON beside them ([] without one)."""
    meta = Path(cfg.init_from).with_suffix(".json") if cfg.init_from else None
    return json.loads(meta.read_text()).get("history", []) if meta and meta.is_file() else []


def _resume(cfg: TrainConfig, learner: Learner, rank: int) -> tuple[int, list[dict]]:
    """(epochs done in this run, the records of every epoch so far): from OUT/last.pt with --resume where there is
    one, else from the start, after the epochs that made --init-from's weights."""
    if not (cfg.resume and (Path(cfg.out) / CHECKPOINT).exists()):
        return 0, _earlier_history(cfg)
    start_epoch, history = resume(cfg.out, learner)
    if rank == 0:
        print(f"resumed {cfg.model} from {Path(cfg.out) / CHECKPOINT} at epoch {start_epoch}", flush=True)
    return start_epoch, history


def _log(record: dict, log) -> None:
    print(json.dumps(record), file=log, flush=True)
    print(json.dumps(record), flush=True)


def train(cfg: TrainConfig) -> dict:
    """Train cfg.model, resumable from OUT/last.pt; rank 0 logs each epoch to OUT/log.jsonl and checkpoints it,
    and a run that reaches its last epoch saves OUT/model.safetensors.

    Args:
        cfg: the run's settings; under torchrun, with the process group initialised, each rank calls this.

    Returns:
        The run's metrics (`record.summary`): the weights' JSON holds the same.
    """
    cfg, place = prepare(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_ds, test_ds = load_data(cfg, place.device)
    steps = steps_per_epoch(cfg, train_ds)
    learner = build_learner(cfg, place.device)
    teacher_test = logits_of(learner.teacher, test_ds) if learner.teacher is not None else None
    start_epoch, history = _resume(cfg, learner, place.rank)
    forward = wrap(learner.model, cfg, place)  # checkpoints save learner.model: no _orig_mod. in their keys
    if place.rank == 0:
        print(f"{cfg.model} on {place.machine} ({place.device}), {'bf16' if cfg.bf16 else 'fp32'}, "
              f"compile {cfg.compile}, batch {cfg.batch_size}", flush=True)
    earlier = len(history) - start_epoch  # epochs before this run's (--init-from's): the log numbers on from them
    last, clock = end_epoch(cfg, start_epoch), PauseClock()
    with open(out / "log.jsonl", "a") if place.rank == 0 else contextlib.nullcontext() as log:
        for epoch in range(start_epoch, last):
            record = train_one_epoch(epoch, cfg, learner, forward, train_ds, steps, place, clock)
            record["epoch"] += earlier
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                record |= validate(learner.scored, test_ds, teacher_test, cfg.bf16)
            history.append(record)
            if place.rank == 0:
                _log(record, log)
                save_checkpoint(out / CHECKPOINT, learner, epoch=epoch + 1, history=history, cfg=cfg,
                                test_images=len(test_ds))
    if place.rank == 0 and last == cfg.epochs:
        save_weights(out)
    return summary(history, epochs=earlier + cfg.epochs, threads=cfg.threads, test_images=len(test_ds))
