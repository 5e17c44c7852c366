"""What a training log says: which machine ran which epochs, the CPU hours they took, and top-1 by epoch;
a run's summary; for the embedded models, the table and the figure that the README and the model cards show
(`python -m vitspace.train.report` writes them).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..models.registry import WEIGHTS_DIR, get_spec, list_models

__all__ = ["CURVES", "CURVES_FILE", "GOAL", "HEADER", "Part", "Trained", "draw", "embedded", "imitation", "parts",
           "replace_table", "summary", "table"]

CURVES_FILE = "training-curves.png"
CURVES = Path(__file__).resolve().parents[2] / "docs" / CURVES_FILE
ROLES = {"cnn": "teacher", "vit": "ViT student", "deit": "DeiT student"}
GOAL = 0.90   # the distilled (DeiT) student's target: 90% CIFAR-10 test top-1


@dataclass
class Part:
    """Consecutive epochs that ran on one machine with one setting."""
    epochs: list[int]          # [first, last]
    machine: str | None        # None: logged before runs recorded their machine
    distillation: str | None   # none, hard, or soft with its tau (None: not logged; the config has the last)
    device: str | None
    bf16: bool | None
    threads: int
    hours: float               # wall clock, pauses left out
    cpu_hours: float
    cpu_measured: bool         # the process's CPU time; otherwise wall clock x threads
    images_per_s: float


def _cpu_s(h: dict, threads: int) -> float:
    return h["cpu_s"] if "cpu_s" in h else h["epoch_s"] * threads


def parts(history: list[dict], threads: int | None) -> list[Part]:
    """A run's epochs grouped into parts: consecutive epochs with one machine, distillation, device, precision
    and thread count.

    Args:
        history: the run's per-epoch log records.
        threads: the run's --threads (None: torch's default), for epochs that did not log theirs.
    """
    threads = threads or 1
    groups: list[list[dict]] = []
    key = lambda h: (h.get("machine"), h.get("distillation"), h.get("device"), h.get("bf16"),  # noqa: E731
                     h.get("threads", threads))
    for h in history:
        if groups and key(groups[-1][-1]) == key(h):
            groups[-1].append(h)
        else:
            groups.append([h])
    out = []
    for g in groups:
        machine, distillation, device, bf16, n = key(g[0])
        out.append(Part(epochs=[g[0]["epoch"], g[-1]["epoch"]], machine=machine, distillation=distillation,
                        device=device, bf16=bf16, threads=n, hours=round(sum(h["epoch_s"] for h in g) / 3600, 3),
                        cpu_hours=round(sum(_cpu_s(h, n) for h in g) / 3600, 3),
                        cpu_measured=all("cpu_s" in h for h in g),
                        images_per_s=round(sum(h["images_per_s"] for h in g) / len(g), 1)))
    return out


def summary(history: list[dict], *, epochs: int, threads: int | None, test_images: int | None) -> dict:
    """A run's metrics, as `train()` returns them and the weights' JSON keeps them.

    Args:
        history: the run's per-epoch log records.
        epochs: the run's length (TrainConfig.epochs), to tell a complete run.
        threads: the run's --threads (None: torch's default), for epochs that did not log theirs.
        test_images: how many test images each evaluation scored.

    Returns:
        The last test top-1, epochs done, training time and speed, the machines, CPU hours and the parts.
    """
    by_part = parts(history, threads)
    return {"test_top1": history[-1].get("test_acc") if history else None, "test_images": test_images,
            "epochs_done": len(history), "epochs": epochs, "complete": len(history) == epochs,
            "train_seconds": round(sum(h["epoch_s"] for h in history), 1),
            "mean_images_per_s": round(sum(h["images_per_s"] for h in history) / max(1, len(history)), 1),
            "machines": sorted({h["machine"] for h in history if "machine" in h}),  # older runs did not log it
            "cpu_hours": round(sum(p.cpu_hours for p in by_part), 2),
            "parts": [asdict(p) for p in by_part]}


@dataclass
class Trained:
    """One embedded model's training, from its weights' JSON."""
    model: str
    role: str
    params: int
    epochs: int
    top1: float | None         # vitspace.classify.accuracy on the test folder when installed
    test_images: int | None
    cpu_hours: float
    cpu_measured: bool
    machines: list[str]
    curve: list[tuple[int, float]]   # (epoch, test top-1) as logged during training
    teacher: str | None = None       # the teacher its last logged agreement is with (a ViT's: the reference)
    teacher_agree: float | None = None  # top-1 agreement of its distillation head (a ViT's one head) with it

    @classmethod
    def from_json(cls, meta: dict) -> Trained:
        """The training of a weights JSON (`train.weights.save_weights`, evaluated by `install`): epochs and CPU
        hours from its history, top-1 from its evaluation (None when it was installed unevaluated).

        Raises:
            UnknownModelError: its model is not in the registry.
        """
        threads = (meta.get("train_config") or {}).get("threads")
        history = meta.get("history") or []
        ps = parts(history, threads)
        evaluated = meta.get("evaluate") or {}
        agreed = [h for h in history if "teacher_agree" in h]
        return cls(model=meta["model"], role=ROLES.get(get_spec(meta["model"]).family, "model"),
                   params=meta["params"], epochs=len(history), top1=evaluated.get("top1"),
                   test_images=evaluated.get("n"), cpu_hours=round(sum(p.cpu_hours for p in ps), 2),
                   cpu_measured=all(p.cpu_measured for p in ps),
                   machines=list(dict.fromkeys(p.machine or "not logged" for p in ps)),
                   curve=[(h["epoch"], h["test_acc"]) for h in history if "test_acc" in h],
                   teacher=(meta.get("train_config") or {}).get("teacher_model") if agreed else None,
                   teacher_agree=agreed[-1]["teacher_agree"] if agreed else None)


def embedded(weights: str | Path = WEIGHTS_DIR) -> list[Trained]:
    """The embedded models that have a weights JSON in `weights`, teacher first.

    Args:
        weights: the folder of <model>.json files (default: the package's).
    """
    found = []
    for name in list_models():
        spec = get_spec(name)
        path = Path(weights) / f"{name}.json"
        if spec.source == "embedded" and path.is_file():
            found.append(Trained.from_json(json.loads(path.read_text())))
    rank = {role: i for i, role in enumerate(ROLES.values())}
    return sorted(found, key=lambda t: rank.get(t.role, len(rank)))


def imitation(name: str, weights: str | Path = WEIGHTS_DIR) -> str:
    """A sentence on how far an embedded DeiT student's distillation head follows its teacher, against the ViT
    twin that never saw the teacher ("" for another model, or where the training did not log it).

    Args:
        name: a registry name.
        weights: the folder of <model>.json files (default: the package's).
    """
    models = embedded(weights)
    deit = next((t for t in models if t.model == name and t.role == "DeiT student"), None)
    if deit is None or deit.teacher_agree is None:
        return ""
    text = (f"its distillation head agrees with its teacher `{deit.teacher}` on {deit.teacher_agree:.1%} of the "
            "CIFAR-10 test images")
    vit = next((t for t in models if t.role == "ViT student" and t.teacher == deit.teacher
                and t.teacher_agree is not None), None)
    return text + (f", the ViT student, which never saw the teacher, on {vit.teacher_agree:.1%}" if vit else "")


HEADER = "| role | model | parameters | epochs | test top-1 | agrees with the teacher | CPU hours | trained on |"
_HEADER_START = "| role | model |"  # also finds the table an older HEADER wrote, to replace it


def _agreement(t: Trained) -> str:
    """A student's last logged top-1 agreement with its teacher on the test images ("" for a teacher)."""
    if t.role == "teacher":
        return ""
    return f"{t.teacher_agree:.2%} (`{t.teacher}`)" if t.teacher_agree is not None else "not logged"


def table(models: list[Trained]) -> str:
    """A Markdown table of `models`, one row each: role, model, parameters, epochs, top-1, agreement with the
    teacher (the distillation head's; a ViT's one head as the reference), CPU hours, machines."""
    rows = [HEADER, "|---|---|---|---|---|---|---|---|"]
    for t in models:
        top1 = f"{t.top1:.2%} ({t.test_images:,} images)" if t.top1 is not None else "not evaluated"
        hours = f"{t.cpu_hours:.1f}" if t.cpu_measured else f"{t.cpu_hours:.1f} (wall clock x threads)"
        rows.append(f"| {t.role} | `{t.model}` | {t.params / 1e6:.2f} M | {t.epochs} | {top1} | {_agreement(t)} "
                    f"| {hours} | {'; '.join(t.machines)} |")
    return "\n".join(rows) + "\n"


def replace_table(text: str, new: str) -> str:
    """`text` with its table of embedded models (the lines from HEADER to the first that is not a row) as `new`.

    Raises:
        ValueError: `text` has no such table.
    """
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(_HEADER_START))
    except StopIteration:
        raise ValueError(f"no table starting with {_HEADER_START!r}") from None
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[:start]) + new + "".join(lines[end:])


def draw(models: list[Trained], path: str | Path) -> Path:
    """Draw both students' test top-1 by epoch, the teacher's accuracy and the goal as lines across.

    Args:
        models: the embedded models (`embedded()`).
        path: the image file to write (PNG).

    Returns:
        `path`.
    """
    import matplotlib
    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    teacher_lines = iter([("0.35", "--"), ("tab:green", "-."), ("0.6", ":")])
    for t in models:
        if t.role == "teacher" and t.top1 is not None:
            color, ls = next(teacher_lines, ("0.6", ":"))
            ax.axhline(t.top1 * 100, color=color, ls=ls, lw=1, label=f"teacher {t.model}: {t.top1:.1%}")
        elif t.curve:
            epochs, accs = zip(*t.curve)
            ax.plot(epochs, [a * 100 for a in accs], marker="o", ms=3, lw=1.6,
                    label=f"{t.role} {t.model}: {t.curve[-1][1]:.1%}")
    ax.axhline(GOAL * 100, color="tab:red", ls=":", lw=1, label=f"goal for the DeiT student: {GOAL:.0%}")
    ax.set(xlabel="epoch", ylabel="CIFAR-10 test top-1 (%)", title="The embedded students, top-1 by epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
