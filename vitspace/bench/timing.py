"""How the bench measures: timed calls after untimed warm-up, the profiler's one-call figure, peak memory,
and the machine the figures belong to."""
import os
import platform
import threading
import time
from pathlib import Path

import torch

from ..compress.build import versions
from ..export import Runner, pick_engine
from ..util.cpuinfo import cpu_info, machine_class, precision_plan

__all__ = ["MIN_REPS", "BenchCancelled", "PeakMemory", "time_calls", "profiled_ms", "machine_info"]

MIN_REPS = 20  # timed calls per variant and batch size, at least: fewer make p90 a guess


class BenchCancelled(BaseException):
    """The run was cancelled; nothing was written. A BaseException, like KeyboardInterrupt, so that no
    handler that records a failed variant and carries on can swallow it."""


def _rss_mb() -> float | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Highest resident memory while the block runs, sampled every 5 ms, above the level at its start."""

    def __enter__(self):
        self.base = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb() or 0)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mb(self) -> float | None:
        """Megabytes above the starting level; None where /proc is not there to read."""
        return None if self.base is None else round(max(0.0, self.peak - self.base), 1)


def time_calls(run: Runner, x: torch.Tensor, warmup: int, reps: int,
               cancel: threading.Event | None = None) -> list[float]:
    """Time `reps` calls of `run` on the same input, after `warmup` untimed ones.

    Args:
        run: the variant, pixels in, logits out.
        x: its input, (B, 3, H, W).
        warmup: untimed calls first.
        reps: timed calls.
        cancel: when set, the next call raises BenchCancelled instead.

    Returns:
        Milliseconds of each timed call, in order.
    """
    times = []
    with torch.inference_mode():
        for i in range(warmup + reps):
            if cancel is not None and cancel.is_set():
                raise BenchCancelled("benchmark cancelled")
            t0 = time.perf_counter()
            run(x)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
    return times


def profiled_ms(run: Runner, x: torch.Tensor) -> float:
    """The mobile tutorial's measurement: one call under torch.profiler.

    Returns:
        The self CPU time of all ops in milliseconds; only torch runtimes show their work to it.
    """
    from torch.profiler import ProfilerActivity, profile
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        run(x)
    return round(prof.key_averages().self_cpu_time_total / 1000, 3)


def machine_info(threads: int | None = None) -> dict:
    """The machine a run's figures belong to: CPU, its class and precision plan, threads, library versions.

    Args:
        threads: the intra-op threads the run used; None: torch's current setting.
    """
    info = cpu_info()
    return {"cpu": info.model, "machine": platform.machine(), "cores": os.cpu_count(), "class": machine_class(),
            "capability": info.capability, "isa": list(info.flags), "precision": precision_plan(info).describe(),
            "threads": threads or torch.get_num_threads(), "python": platform.python_version(),
            # the demo app lets idle threads sleep (PASSIVE): small models' batch-1 calls then take longer
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "torch": torch.__version__, "quantized_engine": pick_engine("auto"), "versions": versions()}
