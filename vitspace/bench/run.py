"""Latency and throughput of every variant of a model, against the peers: `python -m vitspace.bench`.

    python -m vitspace.bench --model deit-base --random-weights --batch 1,8 --threads 2 --json bench.json

Method, after timm's benchmark.py: for each variant and batch size, untimed warm-up calls, then at
least 20 timed calls on the same input. Reported: p50, p90 and mean latency, images/s (batch / mean),
peak resident memory over the variant's load and runs, file size, top-1 agreement with eager fp32
(from the Compression manifest, or measured here on the same images), and the mobile tutorial's figure:
`self_cpu_time_total` of one profiled call (torch runtimes only).

Variants: eager fp32 and bf16; every file of `vitspace.compress.build`, each in its own runtime; and the
peers a user would pick instead (rows with `peer: true`, see vitspace.bench.variants): the PyTorch Mobile
tutorial's dynamic int8 on the `qnnpack` engine (`mobile-tutorial-qnnpack`), ONNX Runtime (the `.onnx`
files), and OpenVINO bf16 and int8 (NNCF) when installed. A peer whose runtime is missing is skipped
with a note. Compare ratios within one run, not absolute times across runs or machines.
"""
import csv
import json
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..classify.classifier import get_classifier
from ..compress.build import GATE_AGREEMENT, CompressConfig, compress_cached, versions, weights_identity
from ..compress.fastpath import record_fastest
from ..compress.fidelity import Probe, example_images, folder_images
from ..compress.manifest import MANIFEST, Manifest, read_manifest
from ..errors import ConfigError, reason
from ..export import VARIANTS, Runner, pick_engine
from ..util import atomic
from ..util.cpuinfo import cpu_info, machine_class, precision_plan
from ..util.hashing import config_key
from ..util.once import once_on_disk
from ..util.paths import builds_root
from .variants import BENCH_VARIANTS, LEGACY_NAMES, BenchContext, BenchVariant, Skip, entry

__all__ = ["BenchConfig", "Result", "Report", "BenchCancelled", "MIN_REPS", "bench", "bench_cached", "result_dir",
           "latest_report", "machine_info", "write_json", "write_csv"]

MIN_REPS = 20
TARGET_RATIO = 0.8  # vitspace's fastest passing variant against the best peer; above it, the curve is shown
RESULT = "bench.json"
SCHEMA = ("variant", "runtime", "peer", "batch", "p50_ms", "p90_ms", "mean_ms", "images_per_s", "size_bytes",
          "agreement")


class BenchCancelled(BaseException):
    """The run was cancelled; nothing was written. A BaseException, like KeyboardInterrupt, so that no
    handler that records a failed variant and carries on can swallow it."""


@dataclass(frozen=True)
class BenchConfig:
    model: str                                  # registry name or local transformers folder
    variants: tuple[str, ...] = ()              # names from BENCH_VARIANTS; empty: all
    batches: tuple[int, ...] = (1,)
    threads: int | None = None                  # None: torch's default (one per core)
    warmup: int = 5                             # untimed calls before the timed ones
    reps: int = MIN_REPS                        # timed calls per variant and batch size
    artifacts: Path | None = None               # a `vitspace.compress.build` build; None: built (and cached) first
    eval_data: Path | None = None               # ImageFolder for agreement (and the build's fidelity); else examples/
    limit: int = 100                            # agreement images at most
    builds: Path | None = None                  # where that build is cached
    pretrained: bool = True                     # False: architecture only, random weights
    profile: bool = True                        # also the tutorial's one-call profiler figure


@dataclass
class Result:
    variant: str
    runtime: str
    peer: bool
    batch: int
    p50_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    images_per_s: float | None = None
    size_bytes: int | None = None
    agreement: float | None = None              # top-1 agreement with eager fp32
    status: str = "ok"                          # ok, skipped (runtime missing, shape unsupported) or failed
    note: str = ""
    reps: int = 0
    warmup: int = 0
    peak_mem_mb: float | None = None            # resident memory above the level before the variant loaded
    profiler_ms: float | None = None            # the tutorial's figure: self_cpu_time_total of one profiled call


@dataclass
class Report:
    machine: dict
    config: dict
    results: list[Result]
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"machine": self.machine, "config": self.config, "seconds": self.seconds,
                "results": [asdict(r) for r in self.results], "verdict": self.verdict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        results = [Result(**{**r, "variant": LEGACY_NAMES.get(r["variant"], r["variant"])}) for r in d["results"]]
        return cls(d["machine"], d["config"], results, d.get("seconds", 0.0))

    def ok(self) -> list[Result]:
        return [r for r in self.results if r.status == "ok"]

    def fastest_passing(self, batch: int = 1) -> Result | None:
        """vitspace's fastest variant (not a peer) that passes the fidelity gate, at one batch size."""
        rows = [r for r in self.ok() if not r.peer and r.batch == batch and (r.agreement or 0) >= GATE_AGREEMENT]
        return min(rows, key=lambda r: r.p50_ms, default=None)

    def best_peer(self, batch: int = 1) -> Result | None:
        return min((r for r in self.ok() if r.peer and r.batch == batch), key=lambda r: r.p50_ms, default=None)

    def verdict(self, batch: int = 1) -> dict | None:
        """The fastest passing vitspace variant against the best peer, in this run: the ratio of their p50."""
        ours, peer = self.fastest_passing(batch), self.best_peer(batch)
        if not (ours and peer):
            return None
        return {"batch": batch, "fastest_passing": ours.variant, "p50_ms": ours.p50_ms, "best_peer": peer.variant,
                "peer_p50_ms": peer.p50_ms, "ratio": round(ours.p50_ms / peer.p50_ms, 3)}

    def frontier(self, batch: int = 1) -> list[Result]:
        """The speed-against-agreement curve: vitspace's variants, fastest first, each agreeing more than the last."""
        front = []
        for r in sorted((r for r in self.ok() if not r.peer and r.batch == batch), key=lambda r: r.p50_ms):
            if not front or (r.agreement or 0) > (front[-1].agreement or 0):
                front.append(r)
        return front

    def rows(self) -> list[dict]:
        """One row per variant and batch size for a table or plot, with the speed-up over eager fp32."""
        speedups = {b: self.speedups(b) for b in {r.batch for r in self.results}}
        return [{"variant": r.variant, "runtime": r.runtime, "peer": r.peer, "batch": r.batch, "status": r.status,
                 "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "mean_ms": r.mean_ms, "images_per_s": r.images_per_s,
                 "speedup": speedups[r.batch].get(r.variant), "size_mb": round(r.size_bytes / 1e6, 2)
                 if r.size_bytes else None, "agreement": r.agreement, "peak_mem_mb": r.peak_mem_mb,
                 "profiler_ms": r.profiler_ms, "note": r.note} for r in self.results]

    def speedups(self, batch: int = 1) -> dict[str, float]:
        """p50 of eager fp32 over each variant's p50, at one batch size."""
        rows = {r.variant: r for r in self.ok() if r.batch == batch}
        base = rows.get("eager-fp32")
        return {name: round(base.p50_ms / r.p50_ms, 2) for name, r in rows.items()} if base else {}


# --- machine ------------------------------------------------------------------------------------

def machine_info(threads: int | None = None) -> dict:
    info = cpu_info()
    return {"cpu": info.model, "machine": platform.machine(), "cores": os.cpu_count(), "class": machine_class(),
            "capability": info.capability, "isa": list(info.flags), "precision": precision_plan(info).describe(),
            "threads": threads or torch.get_num_threads(), "python": platform.python_version(),
            # the demo app lets idle threads sleep (PASSIVE): small models' batch-1 calls then take longer
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "torch": torch.__version__, "quantized_engine": pick_engine("auto"), "versions": versions()}


# --- measuring ------------------------------------------------------------------------------------

def _rss_mb() -> float | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return None


class _PeakMemory:
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
        return None if self.base is None else round(max(0.0, self.peak - self.base), 1)


def time_calls(run: Runner, x: torch.Tensor, warmup: int, reps: int,
               cancel: threading.Event | None = None) -> list[float]:
    """Milliseconds of each of `reps` calls after `warmup` untimed ones."""
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


def _profiled_ms(run: Runner, x: torch.Tensor) -> float:
    """The mobile tutorial's measurement: one call under torch.profiler, self CPU time of all ops."""
    from torch.profiler import ProfilerActivity, profile
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        run(x)
    return round(prof.key_averages().self_cpu_time_total / 1000, 3)


def _measure(variant: BenchVariant, ctx: BenchContext, config: BenchConfig, cancel) -> list[Result]:
    built = entry(ctx, variant.file)
    base = dict(variant=variant.name, runtime=variant.runtime, peer=variant.peer,
                size_bytes=built.size_bytes if built else None)
    results = []
    with _PeakMemory() as memory:
        try:
            run = variant.prepare(ctx)
            agreement = built.fidelity.top1_agreement if built and built.fidelity else \
                ctx.probe.measure(run).top1_agreement
        except Skip as e:
            return [Result(**base, batch=b, status="skipped", note=str(e)) for b in config.batches]
        except Exception as e:  # noqa: BLE001 - one variant's failure is recorded, the others still run
            return [Result(**base, batch=b, status="failed", note=reason(e)) for b in config.batches]
        for batch in config.batches:
            result = Result(**base, batch=batch, agreement=agreement)
            results.append(result)
            if variant.fixed_batch and batch != 1:
                result.status, result.note = "skipped", "exported for batch 1 only"
                continue
            x = torch.cat([ctx.probe.pixels[0]] * batch)
            try:
                times = time_calls(run, x, config.warmup, config.reps, cancel)
                if config.profile and variant.torch_ops:
                    result.profiler_ms = _profiled_ms(run, x)
            except BenchCancelled:
                raise
            except Exception as e:  # noqa: BLE001
                result.status, result.note = "failed", reason(e)
                continue
            mean = float(np.mean(times))
            result.p50_ms, result.p90_ms = (round(float(v), 3) for v in np.percentile(times, [50, 90]))
            result.mean_ms, result.images_per_s = round(mean, 3), round(batch * 1000 / mean, 2)
            result.reps, result.warmup = len(times), config.warmup
    for r in results:
        r.peak_mem_mb = memory.mb
    return results


# --- running --------------------------------------------------------------------------------------

def _check(config: BenchConfig) -> tuple[str, ...]:
    names = config.variants or tuple(BENCH_VARIANTS)
    unknown = [n for n in names if n not in BENCH_VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variants {unknown}; known: {', '.join(BENCH_VARIANTS)}")
    if config.reps < MIN_REPS:
        raise ConfigError(f"reps must be at least {MIN_REPS}")
    if config.warmup < 0 or not config.batches or min(config.batches) < 1:
        raise ConfigError("warmup must be 0 or more and every batch size at least 1")
    if config.threads is not None and config.threads < 1:
        raise ConfigError("threads must be at least 1")
    return names


def _artifacts(config: BenchConfig, names: tuple[str, ...], say) -> tuple[Path | None, Manifest | None]:
    files = tuple(dict.fromkeys(BENCH_VARIANTS[n].file for n in names if BENCH_VARIANTS[n].file))
    if config.artifacts:
        if not (Path(config.artifacts) / MANIFEST).exists():
            raise FileNotFoundError(f"no {MANIFEST} in {config.artifacts}: build it with python -m vitspace.compress")
        return Path(config.artifacts), read_manifest(config.artifacts)
    if not files:
        return None, None
    root = config.builds or builds_root()
    say(f"building {', '.join(files)} with vitspace.compress.build")
    build = CompressConfig(config.model, root, files, eval_data=config.eval_data, limit=config.limit,
                           pretrained=config.pretrained)
    return compress_cached(build, root, progress=say)


def bench(config: BenchConfig, progress: Callable[[str], None] | None = None,
          cancel: threading.Event | None = None) -> Report:
    """Measure every requested variant at every batch size. Raises BenchCancelled when `cancel` is set."""
    names = _check(config)

    def say(message: str) -> None:  # also a cancellation point, between the steps of a build
        if cancel is not None and cancel.is_set():
            raise BenchCancelled("benchmark cancelled")
        if progress:
            progress(message)
    t0 = time.perf_counter()
    clf = get_classifier(config.model, pretrained=config.pretrained)
    artifacts, manifest = _artifacts(config, names, say)
    images = folder_images(config.eval_data, clf.labels, clf.name, config.limit) if config.eval_data \
        else example_images(config.limit)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or threads)
    try:
        ctx = BenchContext(clf.module, Probe.of(clf.module, clf.preprocess, images), artifacts, manifest,
                           torch.get_num_threads())
        results = []
        for i, name in enumerate(names):
            say(f"[{i + 1}/{len(names)}] {name}")
            results += _measure(BENCH_VARIANTS[name], ctx, config, cancel)
    finally:
        torch.set_num_threads(threads)
    conf = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    conf.update(variants=list(names), artifacts=str(artifacts) if artifacts else None, origin=clf.origin)
    report = Report(machine_info(ctx.threads), conf, results, round(time.perf_counter() - t0, 1))
    fastest = report.fastest_passing(min(config.batches))
    if fastest and fastest.variant in VARIANTS:  # Classify's fast path runs it on this CPU class from now on
        record_fastest(config.model, config.pretrained, fastest.variant, fastest.p50_ms, fastest.agreement)
    return report


def bench_key(config: BenchConfig) -> str:
    return config_key({**{k: str(v) for k, v in asdict(config).items()}, "machine": machine_info(config.threads),
                       "weights": weights_identity(config.model, config.pretrained)})


def result_dir(config: BenchConfig, root: str | Path) -> Path:
    """Where bench_cached keeps a run's bench.json and bench.csv."""
    return Path(root) / f"bench-{bench_key(config)}"


def bench_cached(config: BenchConfig, root: str | Path, progress=None, cancel=None) -> tuple[Report, bool]:
    """(report, whether it was cached): a run with the same config on the same machine is shown again.

    The report is written (JSON and CSV) once the run completes; a cancelled run writes nothing.
    """
    _check(config)
    out = result_dir(config, root)

    def make() -> Report:
        report = bench(replace(config, builds=config.builds or Path(root)), progress, cancel)
        write_csv(report, out / "bench.csv")
        write_json(report, out / RESULT)  # last: its presence marks a complete run
        return report
    return once_on_disk(out / RESULT, lambda: Report.from_dict(json.loads((out / RESULT).read_text())), make)


def latest_report(root: str | Path, model: str) -> dict | None:
    """The most recent saved benchmark of `model` under root (bench_cached's folders), as JSON data."""
    runs = sorted(Path(root).glob(f"bench-*/{RESULT}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in runs:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("config", {}).get("model") == model:
            return data
    return None


# --- output ---------------------------------------------------------------------------------------

def write_json(report: Report, path: str | Path) -> None:
    atomic.write_text(path, json.dumps(report.to_dict(), indent=2))


def write_csv(report: Report, path: str | Path) -> None:
    """One row per variant and batch size: the JSON's result fields, schema fields first."""
    names = list(SCHEMA) + [f.name for f in fields(Result) if f.name not in SCHEMA]
    with atomic.staged(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(r) for r in report.results)


def format_table(report: Report) -> str:
    lines = [f"{'variant':<20} {'peer':<4} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} {'mean ms':>9} {'img/s':>8} "
             f"{'x fp32':>6} {'MB':>8} {'agree':>6} {'prof ms':>8}"]
    dash = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in report.rows():
        head = f"{r['variant']:<20} {'yes' if r['peer'] else '':<4} {r['batch']:>5}"
        if r["status"] != "ok":
            lines.append(f"{head} {r['status']}: {r['note']}")
            continue
        lines.append(f"{head} {r['p50_ms']:>9.2f} {r['p90_ms']:>9.2f} {r['mean_ms']:>9.2f} {r['images_per_s']:>8.1f} "
                     f"{dash(r['speedup'], '.2f'):>6} {dash(r['size_mb'], '.1f'):>8} {dash(r['agreement'], '.1%'):>6} "
                     f"{dash(r['profiler_ms'], '.1f'):>8}")
    m, v = report.machine, report.verdict(min(r.batch for r in report.results) if report.results else 1)
    if v:
        lines.append(f"fastest passing vitspace variant {v['fastest_passing']} {v['p50_ms']:.2f} ms against the best "
                     f"peer {v['best_peer']} {v['peer_p50_ms']:.2f} ms (batch {v['batch']}): ratio {v['ratio']:.2f}")
        if v["ratio"] > TARGET_RATIO:
            lines.append(f"above {TARGET_RATIO}x: speed against agreement, fastest first: " + ", ".join(
                f"{r.variant} {r.p50_ms:.1f} ms {dash(r.agreement, '.1%')}" for r in report.frontier(v["batch"])))
    lines.append(f"{m.get('class', m['cpu'])}, {m['cores']} cores, {m['threads']} threads, torch {m['torch']}, "
                 f"int8 engine {m['quantized_engine']}")
    return "\n".join(lines)
