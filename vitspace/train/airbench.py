"""Train the airbench-style CIFAR-10 teacher (airbench-cifar10), airbench94's recipe in fp32 on the CPU.

    python -m vitspace.train.airbench --data DIR --out runs/airbench [--epochs 9.9] [--threads 2] [--resume]
    python -m vitspace.train.airbench --out runs/airbench --data DIR --install

The recipe follows Keller Jordan's airbench94 (KellerJordan/cifar10-airbench): the whitening convolution set
from the eigenvectors of 2x2 training patches (its bias trained for the first epochs only), label smoothing 0.2,
Nesterov SGD with decoupled lr and weight decay and a 64x larger lr for the BatchNorm biases, airbench's
triangular schedule, a lookahead moving average of the weights, alternating flip, translation by up to 2 pixels;
the network (vitspace.models.airbench) averages 6 mirrored and translated views at evaluation.

Each epoch is checkpointed (`OUT/last.pt`, `--resume` continues exactly), logged to `OUT/log.jsonl`, and the
final weights (the moving average) land in `OUT/model.safetensors` with `OUT/model.json`, as
`python -m vitspace.train` writes them; `--install` puts them into vitspace/models/weights, evaluated on DATA/test.
The convolutions run channels_last (faster on CPU); `kill -TSTP PID` pauses a run as it does `vitspace.train`'s.
"""
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.folders import TensorDataset
from ..errors import ConfigError, command
from ..models.airbench import WIDTHS, AirbenchCifar
from ..models.registry import WEIGHTS_DIR
from ..util import atomic, cli
from ..util.cpuinfo import machine_class
from .checkpoint import CHECKPOINT, load_checkpoint
from .clock import PauseClock
from .config import RENAMED
from .inputs import load_data, normalize, steps_per_epoch
from .metrics import evaluate_tensors
from .record import summary
from .weights import add_evaluation, print_weights, write_weights

__all__ = ["AirbenchConfig", "Lookahead", "init_whitening", "lr_factor", "train_airbench", "export", "install", "main"]


def _setting(text: str, default=None):
    return field(default=default, metadata={"help": text})


@dataclass
class AirbenchConfig:
    """Every setting of an airbench run; the command has a flag for each field (--batch-size for batch_size)."""

    data: str | None = _setting("ImageFolder root with train/ and test/; without it, CIFAR-10 is fetched")
    out: str = _setting("run folder: last.pt (checkpoint), log.jsonl, model.safetensors, model.json", "runs/airbench")
    model: str = _setting("the registry entry the weights are for", "airbench-cifar10")
    epochs: float = _setting("length of the run, airbench94's; a fraction ends the last epoch early", 9.9)
    batch_size: int = _setting("images per step", 1024)
    lr: float = _setting("learning rate per 1024 images, decoupled from the momentum (airbench's)", 11.5)
    momentum: float = _setting("Nesterov momentum", 0.85)
    weight_decay: float = _setting("weight decay per 1024 images, decoupled from the lr", 0.0153)
    bias_scaler: float = _setting("lr multiplier (not weight decay) of the BatchNorm biases", 64.0)
    label_smoothing: float = _setting("label smoothing of the loss", 0.2)
    whiten_bias_epochs: int = _setting("the whitening bias trains this many epochs, then stays", 3)
    translate: int = _setting("random translation by up to this many pixels (reflect padding)", 2)
    widths: str = _setting("the three conv groups' widths; the registry's network is 64,256,256", "64,256,256")
    whiten_images: int = _setting("training images whose patches set the whitening", 5000)
    channels_last: bool = _setting("the convolutions' memory layout, faster on CPU", True)
    seed: int = _setting("seed of the initialisation, the subsets, the whitening images and each epoch's order", 0)
    threads: int | None = _setting("torch's CPU threads (default: torch's choice)")
    limit_train: int | None = _setting("train on a random subset of N images")
    limit_test: int | None = _setting("evaluate on a random subset of N images, --install's evaluation too")
    resume: bool = _setting("continue from OUT/last.pt where there is one", False)
    stop_after_epochs: int | None = _setting("end this invocation after N more epochs; --resume continues")
    export_only: bool = _setting("write OUT/model.safetensors from OUT/last.pt, and stop", False)
    install: bool = _setting("save OUT/last.pt's weights into vitspace/models/weights, evaluated on DATA/test", False)
    install_dir: str | None = _setting("where --install writes instead of vitspace/models/weights")

    @classmethod
    def from_dict(cls, saved: dict) -> "AirbenchConfig":
        """The config a checkpoint saved, also one of the first airbench runs (`stop_after`)."""
        return cls(**{RENAMED.get(k, k): v for k, v in saved.items()})

    @property
    def conv_widths(self) -> tuple[int, ...]:
        """`widths` as integers.

        Raises:
            ConfigError: not three comma-separated integers.
        """
        try:
            w = tuple(int(v) for v in str(self.widths).split(","))
        except ValueError:
            w = ()
        if len(w) != 3:
            raise ConfigError(f"--widths {self.widths}: three comma-separated widths, e.g. 64,256,256")
        return w


# --- airbench's pieces -------------------------------------------------------------------------------------------

@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """airbench's whitening: set `conv` from the s x s patches of `images`.

    Args:
        conv: 2k x 3 x s x s filters, k = 3 s^2; they get the eigenvectors of the patches' (uncentred) covariance,
            each divided by the square root of its eigenvalue + eps, largest first, then the same filters negated.
        images: (N, 3, H, W), CIFAR-normalised.
        eps: added to the eigenvalues.
    """
    c, (h, w) = images.shape[1], conv.weight.shape[2:]
    patches = images.float().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c * h * w)
    cov = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov, UPLO="U")
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = eigenvectors / torch.sqrt(eigenvalues + eps).view(-1, 1, 1, 1)
    conv.weight.copy_(torch.cat((scaled, -scaled)))


class Lookahead:
    """airbench's lookahead: an average of the float state (weights and BatchNorm statistics) that the network is
    reset to at each update. `ema` is the checkpoint's `lookahead`."""

    def __init__(self, model: nn.Module):
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """Move the average towards the network by 1 - decay, then set the network to it."""
        for avg, cur in zip(self.ema.values(), model.state_dict().values()):
            if cur.is_floating_point():
                avg.lerp_(cur, 1 - decay)
                cur.copy_(avg)


def lr_factor(step: int, total: int, peak: float = 0.23, end: float = 0.07) -> float:
    """airbench's schedule: linear from 0.2 to 1 over the first `peak` of the `total` steps, then linear to `end`."""
    warm = int(total * peak)
    if step < warm:
        frac = step / warm
        return 0.2 * (1 - frac) + frac
    frac = (step - warm) / (total - warm)
    return (1 - frac) + end * frac


def _optimizer(cfg: AirbenchConfig, model: AirbenchCifar) -> torch.optim.SGD:
    """Nesterov SGD in airbench's parametrisation: group 0 the BatchNorm biases, group 1 the rest (the checkpoint's
    order); each group's `base_lr` is what the schedule scales."""
    kilostep_scale = 1024 * (1 + 1 / (1 - cfg.momentum))  # Nesterov's step size per unit gradient, per 1024
    lr = cfg.lr / kilostep_scale
    wd = cfg.weight_decay * cfg.batch_size / kilostep_scale
    lr_biases = lr * cfg.bias_scaler
    norm_biases = [m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    others = [p for p in model.parameters() if p.requires_grad and not any(p is q for q in norm_biases)]
    groups = [dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases, base_lr=lr_biases),
              dict(params=others, lr=lr, weight_decay=wd / lr, base_lr=lr)]
    return torch.optim.SGD(groups, momentum=cfg.momentum, nesterov=True)


def _flipped_and_padded(images: torch.Tensor, pad: int, seed: int) -> torch.Tensor:
    """airbench's prepared training set: each image mirrored with probability 1/2 once for the whole run
    (alternating flip mirrors them all on odd epochs), then reflect-padded for translation. uint8 stays uint8."""
    gen = torch.Generator().manual_seed(seed)
    flip = torch.rand(len(images), generator=gen) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
    if pad:
        images = F.pad(images.float(), (pad,) * 4, mode="reflect").to(torch.uint8)
    return images


def _translated(padded: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Each image cropped at a random offset of up to +-r pixels (r from the padding), as airbench's batch_crop."""
    r = (padded.shape[-1] - size) // 2
    if r == 0:
        return padded
    shifts = torch.randint(-r, r + 1, (len(padded), 2), generator=gen)
    out = torch.empty(padded.shape[:2] + (size, size), dtype=padded.dtype)
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            mask = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[mask] = padded[mask, :, r + sy:r + sy + size, r + sx:r + sx + size]
    return out


def _top1(model: AirbenchCifar, ds: TensorDataset, tta: bool) -> float:
    """`metrics.evaluate_tensors` in fp32, with or without the network's test-time augmentation."""
    was_tta, model.tta = model.tta, tta
    try:
        return evaluate_tensors(model, ds, bf16=False)
    finally:
        model.tta = was_tta


def _metrics(cfg: AirbenchConfig, history: list[dict], test_images: int | None, steps: int, total: int) -> dict:
    """`record.summary`, with top-1 after test-time augmentation and completeness counted in steps."""
    last = history[-1] if history else {}
    return summary(history, epochs=cfg.epochs, threads=cfg.threads, test_images=test_images) | {
        "test_top1": last.get("test_acc_tta", last.get("test_acc")), "test_top1_no_tta": last.get("test_acc"),
        "steps": steps, "total_steps": total, "complete": steps >= total}


# --- the run -----------------------------------------------------------------------------------------------------

@dataclass
class _Run:
    """What trains, and where it is: the checkpoint holds model, opt, lookahead (the average), step."""
    cfg: AirbenchConfig
    model: AirbenchCifar
    opt: torch.optim.SGD
    lookahead: Lookahead
    step: int
    total_steps: int
    steps_per_epoch: int
    decay: torch.Tensor  # the lookahead's decay by step (float32, as airbench)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> tuple[torch.Tensor, float]:
        """One step at the schedule's lr, then the lookahead every 5 steps and at the end; (logits, summed loss)."""
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * lr_factor(self.step, self.total_steps)
        outputs = self.model(x)
        loss = loss_fn(outputs, y).sum()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        if self.step % 5 == 0:
            self.lookahead.update(self.model, decay=self.decay[self.step].item())
        if self.step >= self.total_steps:
            self.lookahead.update(self.model, decay=1.0)  # the network becomes the average
        return outputs.detach(), loss.item()


def _setup(cfg: AirbenchConfig, train_ds: TensorDataset) -> _Run:
    """The network with its whitening set from the training images, the optimizer and the lookahead, from cfg.seed."""
    steps = steps_per_epoch(cfg, train_ds)  # airbench drops the last partial batch
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    torch.manual_seed(cfg.seed)
    model = AirbenchCifar(widths=cfg.conv_widths).to(memory_format=fmt)
    gen = torch.Generator().manual_seed(cfg.seed)
    whiten_idx = torch.randperm(len(train_ds), generator=gen)[:cfg.whiten_images]  # the folders are class-sorted
    init_whitening(model.whiten, normalize(train_ds.images[whiten_idx].float()))
    total = math.ceil(steps * cfg.epochs)
    decay = 0.95 ** 5 * (torch.arange(total + 1) / total) ** 3
    return _Run(cfg, model, _optimizer(cfg, model), Lookahead(model), 0, total, steps, decay)


def _train_epoch(run: _Run, epoch: int, padded: torch.Tensor, labels: torch.Tensor, size: int,
                 clock: PauseClock) -> dict:
    """One epoch of translated, alternately flipped batches; its log record (training and time only)."""
    cfg, model = run.cfg, run.model
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.whiten.bias.requires_grad_(epoch < cfg.whiten_bias_epochs)
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch + 1)  # identical on resume
    t0, paused, cpu0 = clock(), clock.paused, time.process_time()
    images = _translated(padded, size, gen)
    if epoch % 2 == 1:
        images = images.flip(-1)  # alternating flip
    perm = torch.randperm(len(images), generator=gen)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing, reduction="none")
    model.train()
    seen, loss_sum, correct = 0, 0.0, 0
    for i in range(run.steps_per_epoch):
        idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        y = labels[idx]
        outputs, loss = run.train_step(normalize(images[idx].float()).contiguous(memory_format=fmt), y, loss_fn)
        seen, loss_sum, correct = seen + len(y), loss_sum + loss, correct + (outputs.argmax(1) == y).sum().item()
        if run.step >= run.total_steps:
            break
    elapsed = clock() - t0
    record = {"epoch": epoch + 1, "step": run.step, "train_loss": loss_sum / seen, "train_acc": correct / seen,
              "images_per_s": seen / elapsed, "epoch_s": elapsed, "cpu_s": round(time.process_time() - cpu0, 1),
              "lr": run.opt.param_groups[1]["lr"], "device": "cpu", "machine": machine_class(), "bf16": False,
              "threads": torch.get_num_threads(), "distillation": "none"}
    if clock.paused > paused:
        record["paused_s"] = round(clock.paused - paused, 1)  # left out of epoch_s
    return record


def _evaluate(run: _Run, test_ds: TensorDataset) -> dict:
    """Top-1 without test-time augmentation, and with it once the run ends; the evaluation's own time."""
    t1, cpu1 = time.perf_counter(), time.process_time()
    result = {"test_acc": _top1(run.model, test_ds, tta=False)}
    if run.step >= run.total_steps:
        result["test_acc_tta"] = _top1(run.model, test_ds, tta=True)
    return result | {"eval_s": round(time.perf_counter() - t1, 1),
                     "eval_cpu_s": round(time.process_time() - cpu1, 1)}  # not in cpu_s, the training's alone


def train_airbench(cfg: AirbenchConfig) -> dict:
    """Train the airbench network, resumable from OUT/last.pt; a run that reaches its last step saves
    OUT/model.safetensors.

    Args:
        cfg: the run's settings.

    Returns:
        The run's metrics (`record.summary`, plus steps and top-1 with and without test-time augmentation).
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_ds, test_ds = load_data(cfg, torch.device("cpu"))
    run = _setup(cfg, train_ds)
    n_epochs = math.ceil(run.total_steps / run.steps_per_epoch)
    start_epoch, history = 0, []
    if cfg.resume and (out / CHECKPOINT).exists():
        ckpt = load_checkpoint(out)
        run.model.load_state_dict(ckpt["model"])
        run.opt.load_state_dict(ckpt["opt"])
        run.lookahead.ema = ckpt["lookahead"]
        start_epoch, run.step, history = ckpt["epoch"], ckpt["step"], ckpt["history"]
        print(f"resumed {cfg.model} from {out / CHECKPOINT} at epoch {start_epoch}", flush=True)
    print(f"{cfg.model} on {machine_class()}, fp32, {torch.get_num_threads()} threads, batch {cfg.batch_size}, "
          f"{run.total_steps} steps in {n_epochs} epochs", flush=True)
    padded = _flipped_and_padded(train_ds.images, cfg.translate, cfg.seed)
    clock = PauseClock()
    with open(out / "log.jsonl", "a") as log:
        for epoch in range(start_epoch, min(n_epochs, start_epoch + (cfg.stop_after_epochs or n_epochs))):
            record = _train_epoch(run, epoch, padded, train_ds.labels, train_ds.images.shape[-1], clock)
            record |= _evaluate(run, test_ds)
            history.append(record)
            print(json.dumps(record), file=log, flush=True)
            print(json.dumps(record), flush=True)
            state = dict(model=run.model.state_dict(), opt=run.opt.state_dict(), lookahead=run.lookahead.ema,
                         epoch=epoch + 1, step=run.step, total_steps=run.total_steps, history=history,
                         config=dataclasses.asdict(cfg), test_images=len(test_ds))
            with atomic.staged(out / CHECKPOINT) as tmp:
                torch.save(state, tmp)
    if run.step >= run.total_steps:
        export(out)
    return _metrics(cfg, history, len(test_ds), run.step, run.total_steps)


# --- export and install ------------------------------------------------------------------------------------------

def export(run: str | Path, dest: str | Path | None = None, name: str = "model") -> Path:
    """A run's last checkpoint as DEST/NAME.safetensors (float16) with NAME.json, as `train.weights.save_weights`.

    Args:
        run: the run folder, with last.pt; once the run has ended its network is the lookahead average.
        dest: where to write (default: the run folder).
        name: the files' stem.

    Returns:
        The path of the safetensors file.
    """
    ckpt = load_checkpoint(run)
    metrics = _metrics(AirbenchConfig.from_dict(ckpt["config"]), ckpt["history"], ckpt.get("test_images"),
                       ckpt["step"], ckpt["total_steps"])
    return write_weights(ckpt, metrics, dest or run, name)


def install(run: str | Path, data: str | Path | None = None, dest: str | Path | None = None,
            limit: int | None = None) -> Path:
    """Save an airbench run's weights into the package, as `train.weights.install` saves a `vitspace.train` run's.

    Args:
        run: the airbench run folder, with last.pt.
        data: the ImageFolder root whose test/ `train.weights.add_evaluation` scores them on; None: unevaluated.
        dest: where <model>.safetensors and <model>.json go instead of vitspace/models/weights.
        limit: score them on at most this many test images.

    Returns:
        The path of <model>.safetensors.

    Raises:
        ConfigError: the run trained other widths than the registry's network.
    """
    cfg = AirbenchConfig.from_dict(load_checkpoint(run)["config"])
    if cfg.conv_widths != WIDTHS:
        raise ConfigError(f"{run} trained widths {cfg.widths}; {cfg.model} is {','.join(map(str, WIDTHS))}, so only "
                          "its run folder holds these weights (--export-only)")
    path = export(run, dest or WEIGHTS_DIR, cfg.model)
    if data:
        add_evaluation(path, data, limit)
    return path


# --- the command -------------------------------------------------------------------------------------------------

@command
def main(argv=None) -> int:
    cfg = cli.parse_config("train.airbench", __doc__, AirbenchConfig, argv)
    if cfg.export_only or cfg.install:
        print_weights(install(cfg.out, cfg.data, cfg.install_dir, cfg.limit_test) if cfg.install
                      else export(cfg.out))
        return 0
    print(json.dumps(train_airbench(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
