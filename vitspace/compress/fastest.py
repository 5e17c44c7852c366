"""The fastest file that passes the fidelity gate on this CPU: timed at the end of a build (a few batch-1 calls
of each passing file, at the process's thread count) and recorded per CPU class and model in the build root's
fastest.json, which Classify's fast path reads. A benchmark records its own, longer measurement there too.

A measurement replaces the record unless the record names a file it did not time: a build of one file cannot
demote a faster file measured earlier, and a run that timed the recorded file can.
"""
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from ..export import Runner
from ..util import atomic
from ..util.cpuinfo import machine_class
from ..util.once import KeyLocks
from ..util.paths import builds_root

__all__ = ["FASTEST", "WARMUP", "CALLS", "Timer", "median_ms", "record_fastest", "recorded_fastest"]

FASTEST = "fastest.json"    # in the build root: per CPU class and model, the fastest variant that passed
WARMUP, CALLS = 3, 5        # per passing file at the end of a build: enough to order files, not to publish
Timer = Callable[[str, Runner, torch.Tensor], float]  # (file, runner, input (1, 3, H, W)) -> milliseconds
_lock = KeyLocks()


def median_ms(file: str, run: Runner, x: torch.Tensor) -> float:
    """The median of CALLS timed calls of `run` on x, after WARMUP untimed ones, in milliseconds (a `Timer`)."""
    times = []
    with torch.inference_mode():
        for i in range(WARMUP + CALLS):
            t0 = time.perf_counter()
            run(x)
            if i >= WARMUP:
                times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def _key(model: str, pretrained: bool) -> str:
    return f"{model} ({'pretrained' if pretrained else 'random weights'})"


def _records(root: Path) -> dict:
    try:
        return json.loads((root / FASTEST).read_text())
    except (OSError, ValueError):
        return {}


def recorded_fastest(model: str, pretrained: bool = True, root: str | Path | None = None) -> dict | None:
    """The fastest passing variant of the model measured on this CPU class, as recorded.

    Args:
        model: registry name or local transformers folder.
        pretrained: False for the architecture with random weights.
        root: the build root; None: `builds_root()`, the one the fast path reads.

    Returns:
        {"variant", "p50_ms", "agreement", "measured" (file -> ms), "by" ("build" or "bench"), "build" (its
        folder, relative to root where it lies inside)}, the last three absent from older records; None when
        nothing was recorded.
    """
    return _records(Path(root or builds_root())).get(machine_class(), {}).get(_key(model, pretrained))


def record_fastest(root: str | Path, model: str, pretrained: bool, *, variant: str, p50_ms: float,
                   agreement: float | None, measured: dict[str, float] | None = None, by: str = "bench",
                   build: str | Path | None = None) -> bool:
    """Record the fastest passing variant of a model on this CPU class in ROOT/fastest.json, unless the record
    there names a file this measurement did not time.

    Args:
        root: the build root to record under.
        model: registry name or local transformers folder.
        pretrained: False for the architecture with random weights.
        variant: a file of `vitspace.export.VARIANTS`.
        p50_ms: its median latency, as measured.
        agreement: its top-1 agreement with eager fp32.
        measured: every passing file timed in the same run, file -> ms; None: the variant alone.
        by: what measured it: "build" (a few calls) or "bench".
        build: the build folder that holds the file, if any.

    Returns:
        Whether the record was written.
    """
    root = Path(root)
    measured = measured or {variant: p50_ms}
    folder = None
    if build is not None:
        build = Path(build).resolve()
        folder = str(build.relative_to(root.resolve()) if build.is_relative_to(root.resolve()) else build)
    path = root / FASTEST
    with _lock(str(path.resolve())):
        records = _records(root)
        mine = records.setdefault(machine_class(), {})
        old = mine.get(_key(model, pretrained))
        if old and old.get("variant") not in measured:
            return False
        mine[_key(model, pretrained)] = {"variant": variant, "p50_ms": p50_ms, "agreement": agreement,
                                         "measured": measured, "by": by, "build": folder}
        atomic.write_text(path, json.dumps(records, indent=2))
    return True
