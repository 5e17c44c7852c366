"""Latency and throughput of every variant of a model, against the peers: `python -m vitspace.bench`.

    python -m vitspace.bench --model deit-base --random-weights --batch 1,8 --threads 2 --json bench.json

Method, after timm's benchmark.py: for each variant and batch size, untimed warm-up calls, then at
least 20 timed calls on the same input. Reported: p50, p90 and mean latency, images/s (batch / mean),
peak resident memory over the variant's load and runs, file size, top-1 agreement with eager fp32
(from the Compression manifest, or measured here on the same images), and the seed's own figure:
`self_cpu_time_total` of one profiled call (torch runtimes only).

Variants: eager fp32 and bf16; every file of `vitspace.compress`, each in its own runtime; and the
peers a user would pick instead (rows with `peer: true`): the seed's dynamic int8 on the `qnnpack`
engine, ONNX Runtime (the two `.onnx` files), and OpenVINO bf16 and int8 (NNCF) when installed. A
peer whose runtime is missing is skipped with a note. Compare ratios within one run, not absolute
times across runs or machines.
"""
import argparse
import copy
import csv
import hashlib
import json
import os
import platform
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import compress as vc

__all__ = ["BenchConfig", "Result", "Report", "BenchVariant", "BENCH_VARIANTS", "BenchCancelled", "MIN_REPS",
           "bench", "bench_cached", "result_dir", "latest_report", "machine_info", "write_json", "write_csv", "main"]

MIN_REPS = 20
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
    artifacts: Path | None = None               # a `vitspace.compress` build; None: built (and cached) first
    eval_data: Path | None = None               # ImageFolder for agreement (and the build's fidelity); else examples/
    limit: int = 100                            # agreement images at most
    builds: Path | None = None                  # where that build is cached
    pretrained: bool = True                     # False: architecture only, random weights
    profile: bool = True                        # also the seed's one-call profiler figure


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
    profiler_ms: float | None = None            # the seed's figure: self_cpu_time_total of one profiled call


@dataclass
class Report:
    machine: dict
    config: dict
    results: list[Result]
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"machine": self.machine, "config": self.config, "seconds": self.seconds,
                "results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        return cls(d["machine"], d["config"], [Result(**r) for r in d["results"]], d.get("seconds", 0.0))

    def ok(self) -> list[Result]:
        return [r for r in self.results if r.status == "ok"]

    def fastest(self, peer: bool, batch: int = 1) -> Result | None:
        rows = [r for r in self.ok() if r.peer == peer and r.batch == batch]
        return min(rows, key=lambda r: r.p50_ms, default=None)

    def rows(self) -> list[dict]:
        """One row per variant and batch size for a table or plot, with the speed-up over eager fp32."""
        speedups = {b: self.speedups(b) for b in {r.batch for r in self.results}}
        return [{"variant": r.variant, "runtime": r.runtime, "peer": r.peer, "batch": r.batch, "status": r.status,
                 "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "mean_ms": r.mean_ms, "images_per_s": r.images_per_s,
                 "speedup": speedups[r.batch].get(r.variant), "size_mb": round(r.size_bytes / 1e6, 2)
                 if r.size_bytes else None, "agreement": r.agreement, "peak_mem_mb": r.peak_mem_mb,
                 "seed_profiler_ms": r.profiler_ms, "note": r.note} for r in self.results]

    def speedups(self, batch: int = 1) -> dict[str, float]:
        """p50 of eager fp32 over each variant's p50, at one batch size."""
        rows = {r.variant: r for r in self.ok() if r.batch == batch}
        base = rows.get("eager-fp32")
        return {name: round(base.p50_ms / r.p50_ms, 2) for name, r in rows.items()} if base else {}


# --- machine --------------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith(("avx512", "amx", "avx_vnni", "avx2")))


def machine_info(threads: int | None = None) -> dict:
    versions = vc._versions()
    for package in ("openvino", "nncf"):
        versions[package] = vc.version_of(package)
    return {"cpu": _cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(),
            "threads": threads or torch.get_num_threads(), "isa": _cpu_flags(), "python": platform.python_version(),
            "torch": torch.__version__, "quantized_engine": vc.pick_engine("auto"), "versions": versions}


# --- variants -------------------------------------------------------------------------------------

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class _Ctx:
    """What variants share: the eager model, the fidelity probe, the compress build, the thread count."""
    model: nn.Module
    probe: "vc._Probe"
    artifacts: Path | None
    manifest: "vc.Manifest | None"
    threads: int


class _Skip(Exception):
    """This variant cannot run here (runtime missing, shape unsupported); the note says why."""


@dataclass(frozen=True)
class BenchVariant:
    name: str
    runtime: str
    peer: bool
    prepare: Callable[[_Ctx], Runner]
    file: str | None = None         # the compress file it runs (size and fidelity from the manifest)
    torch_ops: bool = True          # the torch profiler sees its work (the seed's figure is meaningful)
    batch_one: bool = False         # exported for batch 1 only
    about: str = ""


def _eager(ctx: _Ctx) -> Runner:
    return ctx.model


def _eager_bf16(ctx: _Ctx) -> Runner:
    model = copy.deepcopy(ctx.model).to(torch.bfloat16)
    return lambda x: model(x.to(torch.bfloat16))


def _built(ctx: _Ctx, name: str) -> Path:
    entry = _entry(ctx, name)
    if entry is None or entry.status != "ok":
        raise _Skip(f"{name} was not built" + (f": {entry.reason}" if entry and entry.reason else ""))
    return ctx.artifacts / name


def _file(name: str) -> Callable[[_Ctx], Runner]:
    return lambda ctx: vc.VARIANTS[name].load(_built(ctx, name))


def _onnx(name: str) -> Callable[[_Ctx], Runner]:
    def prepare(ctx: _Ctx) -> Runner:
        path = _built(ctx, name)
        ort = _import("onnxruntime", "onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = ctx.threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {input_name: x.numpy()})[0])
    return prepare


def _seed_qnnpack(ctx: _Ctx) -> Runner:
    if "qnnpack" not in torch.backends.quantized.supported_engines:
        raise _Skip("this torch build has no qnnpack engine")
    with vc.quantized_engine("qnnpack"):
        model = vc.quantize_int8(copy.deepcopy(ctx.model))

    def run(x):
        with vc.quantized_engine("qnnpack"):
            return model(x)
    return run


def _openvino(precision: str) -> Callable[[_Ctx], Runner]:
    def prepare(ctx: _Ctx) -> Runner:
        ov = _import("openvino", "openvino")
        example = torch.cat([ctx.probe.pixels[0]] * 2)
        model = ov.convert_model(ctx.model, example_input=example)
        if precision == "int8":  # OpenVINO's post-training recipe: NNCF, calibrated on the probe images
            nncf = _import("nncf", "nncf")
            data = nncf.Dataset([x.numpy() for x in ctx.probe.pixels])
            model = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(ctx.probe.pixels))
        config = {"INFERENCE_NUM_THREADS": ctx.threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision == "bf16":  # int8 keeps OpenVINO's own choice for the layers it leaves unquantized
            config["INFERENCE_PRECISION_HINT"] = "bf16"
        core, requests = ov.Core(), {}

        def run(x: torch.Tensor) -> torch.Tensor:
            # compiled for each input shape, as a deployment would: 12% faster than the dynamic model
            if x.shape not in requests:
                static = model.clone()
                static.reshape(list(x.shape))
                requests[x.shape] = core.compile_model(static, "CPU", config).create_infer_request()
            return torch.from_numpy(requests[x.shape].infer({0: x.numpy()})[0].copy())
        return run
    return prepare


def _import(module: str, package: str):
    try:
        return vc._require(module, package)
    except vc.MissingBackendError as e:
        raise _Skip(str(e)) from None


def _variants() -> dict[str, BenchVariant]:
    rows = [BenchVariant("eager-fp32", "torch eager", False, _eager, about="the reference"),
            BenchVariant("eager-bf16", "torch eager", False, _eager_bf16, about="bf16 weights and activations")]
    for v in vc.VARIANTS.values():
        onnx = v.format == "onnx"  # ONNX Runtime's own recipes: peers
        rows.append(BenchVariant(v.file, v.runtime, onnx, _onnx(v.file) if onnx else _file(v.file), v.file,
                                 torch_ops=v.format.startswith("torchscript") or v.format == "pt2",
                                 batch_one=v.format == "executorch"))
    rows += [BenchVariant("seed-qnnpack-int8", "torch eager (qnnpack)", True, _seed_qnnpack,
                          about="the seed's recipe: dynamic int8 Linear on the qnnpack engine"),
             BenchVariant("openvino-bf16", "openvino (CPU)", True, _openvino("bf16"), torch_ops=False),
             BenchVariant("openvino-int8", "openvino (CPU), NNCF int8", True, _openvino("int8"), torch_ops=False)]
    return {r.name: r for r in rows}


BENCH_VARIANTS: dict[str, BenchVariant] = _variants()


def _entry(ctx: _Ctx, file: str | None) -> "vc.FileEntry | None":
    if not (file and ctx.manifest):
        return None
    return next((f for f in ctx.manifest.files if f.file == file), None)


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
    """The seed's measurement: one call under torch.profiler, self CPU time of all ops."""
    from torch.profiler import ProfilerActivity, profile
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        run(x)
    return round(prof.key_averages().self_cpu_time_total / 1000, 3)


def _measure(variant: BenchVariant, ctx: _Ctx, config: BenchConfig, cancel) -> list[Result]:
    entry = _entry(ctx, variant.file)
    base = dict(variant=variant.name, runtime=variant.runtime, peer=variant.peer,
                size_bytes=entry.size_bytes if entry else None)
    results = []
    with _PeakMemory() as memory:
        try:
            run = variant.prepare(ctx)
            agreement = entry.fidelity.top1_agreement if entry and entry.fidelity else \
                ctx.probe.measure(run).top1_agreement
        except _Skip as e:
            return [Result(**base, batch=b, status="skipped", note=str(e)) for b in config.batches]
        except Exception as e:  # noqa: BLE001 - one variant's failure is recorded, the others still run
            return [Result(**base, batch=b, status="failed", note=vc._reason(e)) for b in config.batches]
        for batch in config.batches:
            result = Result(**base, batch=batch, agreement=agreement)
            results.append(result)
            if variant.batch_one and batch != 1:
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
                result.status, result.note = "failed", vc._reason(e)
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
        raise ValueError(f"unknown variants {unknown}; known: {', '.join(BENCH_VARIANTS)}")
    if config.reps < MIN_REPS:
        raise ValueError(f"reps must be at least {MIN_REPS}")
    if config.warmup < 0 or not config.batches or min(config.batches) < 1:
        raise ValueError("warmup must be 0 or more and every batch size at least 1")
    if config.threads is not None and config.threads < 1:
        raise ValueError("threads must be at least 1")
    return names


def _artifacts(config: BenchConfig, names: tuple[str, ...], say) -> tuple[Path | None, "vc.Manifest | None"]:
    files = tuple(dict.fromkeys(BENCH_VARIANTS[n].file for n in names if BENCH_VARIANTS[n].file))
    if config.artifacts:
        path = Path(config.artifacts) / vc.MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"no {vc.MANIFEST} in {config.artifacts}: build it with python -m vitspace.compress")
        return Path(config.artifacts), vc.Manifest.from_dict(json.loads(path.read_text()))
    if not files:
        return None, None
    root = config.builds or vc.default_builds()
    say(f"building {', '.join(files)} with vitspace.compress")
    build = vc.CompressConfig(config.model, root, files, eval_data=config.eval_data, limit=config.limit,
                              pretrained=config.pretrained)
    return vc.compress_cached(build, root, progress=say)


def bench(config: BenchConfig, progress: Callable[[str], None] | None = None,
          cancel: threading.Event | None = None) -> Report:
    """Measure every requested variant at every batch size. Raises BenchCancelled when `cancel` is set."""
    from .classifier import get_classifier
    names = _check(config)

    def say(message: str) -> None:  # also a cancellation point, between the steps of a build
        if cancel is not None and cancel.is_set():
            raise BenchCancelled("benchmark cancelled")
        if progress:
            progress(message)
    t0 = time.perf_counter()
    clf = get_classifier(config.model, pretrained=config.pretrained)
    artifacts, manifest = _artifacts(config, names, say)
    images = vc._folder_images(Path(config.eval_data), clf, config.limit) if config.eval_data \
        else vc._example_images(config.limit)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or threads)
    try:
        ctx = _Ctx(clf.module, vc._Probe.of(clf.module, clf.preprocess, images), artifacts, manifest,
                   torch.get_num_threads())
        results = []
        for i, name in enumerate(names):
            say(f"[{i + 1}/{len(names)}] {name}")
            results += _measure(BENCH_VARIANTS[name], ctx, config, cancel)
    finally:
        torch.set_num_threads(threads)
    conf = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    conf.update(variants=list(names), artifacts=str(artifacts) if artifacts else None, weights=clf.weights)
    return Report(machine_info(ctx.threads), conf, results, round(time.perf_counter() - t0, 1))


def bench_key(config: BenchConfig) -> str:
    parts = {**{k: str(v) for k, v in asdict(config).items()}, "machine": machine_info(config.threads),
             "weights": vc._weights_identity(config.model, config.pretrained)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def result_dir(config: BenchConfig, root: str | Path) -> Path:
    """Where bench_cached keeps a run's bench.json and bench.csv."""
    return Path(root) / f"bench-{bench_key(config)}"


def bench_cached(config: BenchConfig, root: str | Path, progress=None, cancel=None) -> tuple[Report, bool]:
    """(report, whether it was cached): a run with the same config on the same machine is shown again.

    The report is written (JSON and CSV) once the run completes; a cancelled run writes nothing.
    """
    out = result_dir(config, root)
    with _guard:
        lock = _locks.setdefault(out.name, threading.Lock())
    with lock:
        if (out / RESULT).exists():
            return Report.from_dict(json.loads((out / RESULT).read_text())), True
        report = bench(replace(config, builds=config.builds or Path(root)), progress, cancel)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(report, out / "bench.csv")
        write_json(report, out / RESULT)  # last: its presence marks a complete run
        return report, False


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
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2))
    tmp.replace(path)


def write_csv(report: Report, path: str | Path) -> None:
    """One row per variant and batch size: the JSON's result fields, schema fields first."""
    names = list(SCHEMA) + [f.name for f in fields(Result) if f.name not in SCHEMA]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(r) for r in report.results)
    tmp.replace(path)


def format_table(report: Report) -> str:
    lines = [f"{'variant':<20} {'peer':<4} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} {'mean ms':>9} {'img/s':>8} "
             f"{'x fp32':>6} {'MB':>8} {'agree':>6} {'seed ms':>8}"]
    dash = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in report.rows():
        head = f"{r['variant']:<20} {'yes' if r['peer'] else '':<4} {r['batch']:>5}"
        if r["status"] != "ok":
            lines.append(f"{head} {r['status']}: {r['note']}")
            continue
        lines.append(f"{head} {r['p50_ms']:>9.2f} {r['p90_ms']:>9.2f} {r['mean_ms']:>9.2f} {r['images_per_s']:>8.1f} "
                     f"{dash(r['speedup'], '.2f'):>6} {dash(r['size_mb'], '.1f'):>8} {dash(r['agreement'], '.1%'):>6} "
                     f"{dash(r['seed_profiler_ms'], '.1f'):>8}")
    m = report.machine
    lines.append(f"{m['cpu']}, {m['cores']} cores, {m['threads']} threads, torch {m['torch']}, "
                 f"int8 engine {m['quantized_engine']}")
    return "\n".join(lines)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv=None) -> int:
    from . import USER_ERRORS
    p = argparse.ArgumentParser(prog="python -m vitspace.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="registry name or local transformers folder")
    p.add_argument("--variants", nargs="+", choices=list(BENCH_VARIANTS), metavar="NAME",
                   help=f"default all: {' '.join(BENCH_VARIANTS)}")
    p.add_argument("--batch", type=_ints, default=(1,), help="batch sizes, e.g. 1,8,32 (default 1)")
    p.add_argument("--threads", type=int, help="intra-op threads of every runtime (default: one per core)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    p.add_argument("--reps", type=int, default=MIN_REPS, help=f"timed calls, at least {MIN_REPS}")
    p.add_argument("--artifacts", type=Path, help="a vitspace.compress build folder (default: build one)")
    p.add_argument("--eval-data", type=Path, help="ImageFolder DIR/<class>/*: agreement images (default examples/)")
    p.add_argument("--limit", type=int, default=100, help="agreement images at most (default 100)")
    p.add_argument("--builds", type=Path, help="where builds are cached (default ~/.cache/vitspace/builds)")
    p.add_argument("--random-weights", action="store_true", help="architecture only: no weights needed")
    p.add_argument("--no-profile", action="store_true", help="skip the seed's one-call profiler figure")
    p.add_argument("--json", type=Path, help="write the report as JSON")
    p.add_argument("--csv", type=Path, help="write the results as CSV")
    args = p.parse_args(argv)
    config = BenchConfig(args.model, tuple(dict.fromkeys(args.variants or ())), args.batch, args.threads,
                         args.warmup, args.reps, args.artifacts, args.eval_data, args.limit, args.builds,
                         not args.random_weights, not args.no_profile)
    try:
        report = bench(config, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except (*USER_ERRORS, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        write_json(report, args.json)
    if args.csv:
        write_csv(report, args.csv)
    print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
