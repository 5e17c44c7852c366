"""Running a benchmark: its config, `bench` (every variant at every batch size, measured in this process),
`bench_cached` and `latest_report` (runs saved under a build root), and `record_fastest_file`, which hands
the fastest passing file to Classify's fast path under the root the caller names.

The method, after timm's benchmark.py, and the variants are described in `python -m vitspace.bench --help`.
"""
import json
import shutil
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..classify.classifier import get_classifier
from ..compress import cache
from ..compress.build import CompressConfig, build_key, compress_cached, weights_identity
from ..compress.fastest import record_fastest
from ..compress.fidelity import Probe, ProbeImages, example_images, folder_images
from ..compress.manifest import MANIFEST, Manifest, read_manifest
from ..errors import ConfigError, reason
from ..export import VARIANTS, capturing
from ..util.eta import Eta
from ..util.hashing import config_key
from ..util.once import once_on_disk
from ..util.paths import builds_root
from .report import Report, Result, write_csv, write_json
from .timing import MIN_REPS, BenchCancelled, PeakMemory, machine_info, profiled_ms, time_calls
from .variants import BENCH_VARIANTS, BenchContext, BenchVariant, Skip, default_variants, entry

__all__ = ["BenchConfig", "BenchCancelled", "MIN_REPS", "RESULT", "bench", "bench_cached", "bench_key", "result_dir",
           "latest_report", "record_fastest_file", "check_config"]

RESULT = "bench.json"  # in bench_cached's folder: its presence marks a complete run


@dataclass(frozen=True)
class BenchConfig:
    """What a benchmark runs: the model, its variants and batch sizes, how long to time them, and on what files."""
    model: str                                  # registry name or local transformers folder
    variants: tuple[str, ...] = ()              # names from BENCH_VARIANTS; empty: default_variants()
    batches: tuple[int, ...] = (1,)
    threads: int | None = None                  # None: torch's default (one per core)
    warmup: int = 5                             # untimed calls before the timed ones
    reps: int = MIN_REPS                        # timed calls per variant and batch size
    artifacts: Path | None = None               # a `vitspace.compress.build` build; None: built (and cached) first
    eval_data: Path | None = None               # ImageFolder for agreement (and the build's fidelity); else examples/
    limit: int = 100                            # agreement images at most (the build's gate images, where it has them)
    builds: Path | None = None                  # where that build is cached; None: builds_root()
    pretrained: bool = True                     # False: architecture only, random weights
    profile: bool = True                        # also the tutorial's one-call profiler figure


def check_config(config: BenchConfig) -> tuple[str, ...]:
    """Refuse a config that cannot run, before any model loads.

    Returns:
        The variant names to run, in order (`default_variants()` when the config names none).

    Raises:
        ConfigError: an unknown variant, fewer than MIN_REPS timed calls, or a bad batch size, warm-up or thread count.
    """
    names = config.variants or default_variants()
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


def _measure(variant: BenchVariant, ctx: BenchContext, config: BenchConfig, cancel) -> list[Result]:
    built = entry(ctx, variant.file)
    base = dict(variant=variant.name, runtime=variant.runtime, peer=variant.peer,
                size_bytes=built.size_bytes if built else None)
    results = []
    with PeakMemory() as memory:
        try:
            with capturing():  # a peer converted in memory (OpenVINO's) is a graph capture
                run = variant.prepare(ctx)
            fidelity = built.fidelity if built and built.fidelity else ctx.probe.measure(run)
        except Skip as e:
            return [Result(**base, batch=b, status="skipped", note=str(e)) for b in config.batches]
        except Exception as e:  # noqa: BLE001 - one variant's failure is recorded, the others still run
            return [Result(**base, batch=b, status="failed", note=reason(e)) for b in config.batches]
        for batch in config.batches:
            result = Result(**base, batch=batch, agreement=fidelity.top1_agreement, agreement_images=fidelity.images)
            results.append(result)
            if variant.fixed_batch and batch != 1:
                result.status, result.note = "skipped", "exported for batch 1 only"
                continue
            x = torch.cat([ctx.probe.pixels[0]] * batch)
            try:
                times = time_calls(run, x, config.warmup, config.reps, cancel)
                if config.profile and variant.torch_ops:
                    result.profiler_ms = profiled_ms(run, x)
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


def _artifacts(config: BenchConfig, names: tuple[str, ...], say) -> tuple[Path | None, Manifest | None]:
    files = tuple(dict.fromkeys(BENCH_VARIANTS[n].file for n in names if BENCH_VARIANTS[n].file))
    if config.artifacts:
        if not (Path(config.artifacts) / MANIFEST).exists():
            raise FileNotFoundError(f"no {MANIFEST} in {config.artifacts}: build it with python -m vitspace.compress")
        return Path(config.artifacts), read_manifest(config.artifacts)
    if not files:
        return None, None
    root = config.builds or builds_root()
    build = CompressConfig(config.model, root, files, eval_data=config.eval_data, limit=config.limit,
                           pretrained=config.pretrained)
    found = _wider_build(build, Path(root))
    if found:
        say(f"using the build {found[0]}: it holds {', '.join(files)}")
        return found
    say(f"building {', '.join(files)} with vitspace.compress.build")
    return compress_cached(build, root, progress=say)


def _wider_build(build: CompressConfig, root: Path) -> tuple[Path, Manifest] | None:
    """A finished build under root made as `build` would be, but of more files (the Compress tab's, say)."""
    for path in root.glob(f"*/{MANIFEST}"):
        try:
            manifest = read_manifest(path.parent)
        except (OSError, ValueError, TypeError, KeyError):
            continue
        held = tuple(f.file for f in manifest.files)
        if manifest.model == build.model and set(build.files) <= set(held) and \
                manifest.build_key == path.parent.name == build_key(replace(build, files=held)):
            cache.touch(path.parent)
            return path.parent, manifest
    return None


def _agreement_images(config: BenchConfig, manifest: Manifest | None, clf) -> ProbeImages:
    """The images agreement is measured on: the build's fidelity gate's where it took them from a folder that is
    still there, so that every row rests on the same images; else the config's (--eval-data, or examples/)."""
    images = manifest.images if manifest else {}
    source = images.get("source", "")
    folder = images.get("folder") or (source.removeprefix("eval-data ") if source.startswith("eval-data ") else None)
    if folder and Path(folder).is_dir():
        return folder_images(folder, clf.labels, clf.name, images["count"])
    if config.eval_data:
        return folder_images(config.eval_data, clf.labels, clf.name, config.limit)
    return example_images(config.limit)


def bench(config: BenchConfig, progress: Callable[[str], None] | None = None,
          cancel: threading.Event | None = None) -> Report:
    """Measure every requested variant at every batch size, in this process. Writes nothing but the build the
    variants need (under `config.builds`) when `config.artifacts` names none.

    Args:
        config: what to run; `check_config` refuses a bad one.
        progress: called with a message before each step.
        cancel: when set, the run stops at its next step or timed call.

    Returns:
        The report; its `fastest_file()` is the file to hand to Classify's fast path (`record_fastest_file`).

    Raises:
        BenchCancelled: `cancel` was set.
    """
    names = check_config(config)

    def say(message: str) -> None:  # also a cancellation point, between the steps of a build
        if cancel is not None and cancel.is_set():
            raise BenchCancelled("benchmark cancelled")
        if progress:
            progress(message)
    t0 = time.perf_counter()
    clf = get_classifier(config.model, pretrained=config.pretrained)
    artifacts, manifest = _artifacts(config, names, say)
    images = _agreement_images(config, manifest, clf)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or threads)
    with cache.using(artifacts) if artifacts else nullcontext():  # the build cache keeps the files meanwhile
        try:
            ctx = BenchContext(clf.module, Probe.of(clf.module, clf.preprocess, images), artifacts, manifest,
                               torch.get_num_threads())
            results, eta = [], Eta(len(names))
            for name in names:
                say(f"{eta.next()} {name}{eta.left()}")
                results += _measure(BENCH_VARIANTS[name], ctx, config, cancel)
        finally:
            torch.set_num_threads(threads)
    conf = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    conf.update(variants=list(names), artifacts=str(artifacts) if artifacts else None, origin=clf.origin)
    return Report(machine_info(ctx.threads), conf, results, round(time.perf_counter() - t0, 1))


def record_fastest_file(report: Report, root: str | Path) -> Result | None:
    """Hand the report's fastest passing file to Classify's fast path: recorded under root for this CPU class.

    Args:
        report: a finished run, from `bench` or `bench_cached`.
        root: the build root to record under. The fast path reads `builds_root()`'s record, so a run measured
            for another root leaves the fast path's choice alone.

    Returns:
        The fastest passing file, or None when no built file passed the gate fastest (eager rows are no file).
        A record that names a file this run did not time stays (`record_fastest`).
    """
    fastest = report.fastest_file()
    if fastest:
        batch = report.smallest_batch()
        measured = {r.variant: r.p50_ms for r in report.passing(batch) if r.variant in VARIANTS}
        record_fastest(root, report.config["model"], report.config["pretrained"], variant=fastest.variant,
                       p50_ms=fastest.p50_ms, agreement=fastest.agreement, measured=measured,
                       build=report.config.get("artifacts"))
    return fastest


def bench_key(config: BenchConfig) -> str:
    """A hash of the config, the machine and the weights: runs with the same key are the same run."""
    return config_key({**{k: str(v) for k, v in asdict(config).items()}, "machine": machine_info(config.threads),
                       "weights": weights_identity(config.model, config.pretrained)})


def result_dir(config: BenchConfig, root: str | Path) -> Path:
    """Where bench_cached keeps a run's bench.json and bench.csv."""
    return Path(root) / f"bench-{bench_key(config)}"


def bench_cached(config: BenchConfig, root: str | Path, progress: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> tuple[Report, bool]:
    """`bench`, once per config and machine: a run with the same key is read back instead of measured again.

    The report is written (JSON and CSV) in `result_dir(config, root)` once the run completes; a cancelled run
    writes nothing. The build the variants need is cached under `config.builds`, else under root.

    Args:
        config: what to run.
        root: the build root the run is saved under.
        progress: as for `bench`.
        cancel: as for `bench`.

    Returns:
        (report, whether it was read back from an earlier run).
    """
    check_config(config)
    out = result_dir(config, root)

    def make() -> Report:
        report = bench(replace(config, builds=config.builds or Path(root)), progress, cancel)
        write_csv(report, out / "bench.csv")
        write_json(report, out / RESULT)  # last: its presence marks a complete run
        return report
    with cache.building(out):  # another process's run of the same key is waited for; a crashed one is not
        try:
            result = once_on_disk(out / RESULT, lambda: Report.from_dict(json.loads((out / RESULT).read_text())),
                                  make)
        except BaseException:
            if not (out / RESULT).exists():
                shutil.rmtree(out, ignore_errors=True)  # a stopped or failed run leaves no folder
            raise
        cache.touch(out)
    return result


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
