"""Building a model's deployable files: `compress` (into a folder), `compress_cached` (once per build key,
under a build root), the fidelity gate (`gate_verdict` against GATE_AGREEMENT and GATE_MIN_IMAGES), and the
build's zip. The command is `python -m vitspace.compress`.

One file per variant (each backend in vitspace/export/ registers its own), each written atomically; the
folder's manifest.json records each file's size, sha256, the passes that ran and its fidelity: the file is
loaded in its own runtime and run on real images, one at a time, against the eager fp32 model. A variant
that fails is recorded as failed with the reason, one whose runtime is not installed as skipped, and the
others still build.
"""
import json
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Callable

import torch

from ..classify.classifier import Classifier, get_classifier
from ..errors import ConfigError, DiskFullError, reason
from ..export import (
    VARIANTS,
    BuildContext,
    Variant,
    capturing,
    default_files,
    expected_deprecations,
    files_of,
    missing_packages,
    pick_engine,
    quantized_engine,
)
from ..models.loading import cached_weights
from ..models.resolve import resolve
from ..util import atomic
from ..util.cpuinfo import cpu_record, machine_class
from ..util.eta import Eta
from ..util.hashing import config_key, file_digest, stat_identity
from . import cache
from .apart import compress_apart
from .fastest import CALLS, WARMUP, Timer, median_ms, record_fastest
from .fidelity import Probe, example_images, folder_images, spread
from .manifest import MANIFEST, FileEntry, Manifest, read_manifest

__all__ = ["CompressConfig", "compress", "compress_cached", "build_apart", "check_config", "build_key",
           "gate_verdict", "parameters", "gate_thresholds", "weights_identity", "zip_build", "versions", "version_of",
           "GATE_AGREEMENT", "GATE_MIN_IMAGES"]

GATE_AGREEMENT = 0.99    # a faster file is a variant only when it gives the same answers as fp32
GATE_MIN_IMAGES = 500    # on an image folder (--eval-data), at least this many of them
_apart = False  # compress_cached builds in a child process (build_apart)
_PACKAGES = ("torch", "executorch", "torchao", "onnx", "onnxruntime", "openvino", "nncf", "timm", "transformers")


@dataclass(frozen=True)
class CompressConfig:
    """What a build makes: the model, the variant files, the int8 recipes, and the images that measure fidelity."""
    model: str                                  # registry name or local transformers folder
    out: Path                                   # output folder, created if missing
    files: tuple[str, ...] = field(default_factory=default_files)  # variant files to build (export.VARIANTS)
    engine: str = "auto"                        # quantized engine for int8 TorchScript; auto: by CPU
    eval_data: Path | None = None               # ImageFolder DIR/<class>/*: images and accuracy
    limit: int = 100                            # fidelity images at most, spread over the classes
    calibration_images: int = 16                # of those, used to calibrate static int8 (PT2E)
    pte_int8: str = "static"                    # model-int8.pte activations: "static" (calibrated) or "dynamic"
    pretrained: bool = True                     # False: architecture only, random weights


def version_of(package: str) -> str | None:
    """The installed version of a package; None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """The installed versions of the packages a build depends on (None: not installed), recorded in manifests,
    benchmarks and the build key."""
    return {p: version_of(p) for p in _PACKAGES}


def weights_identity(model: str, pretrained: bool) -> str:
    """Which weights a build would use, without loading them: a file's path, size and mtime."""
    if not pretrained:
        return "random"
    spec = resolve(model)
    if spec.source == "local":
        return ";".join(stat_identity(p) for p in sorted(spec.folder.iterdir()) if p.is_file())
    if spec.source == "embedded":
        return stat_identity(spec.weights_file) if spec.weights_file.exists() else "missing"
    cached = cached_weights(spec)  # .../snapshots/<commit>/<file>: names the revision
    return stat_identity(cached) if cached else f"hub:{spec.repo_id}@{spec.revision or 'main'}"


def build_key(config: CompressConfig) -> str:
    """A hash of what decides the files: model, weights, files, engine, images and library versions."""
    # "formats" is the files' old name, kept in the key: renamed, every cached build would be built again
    return config_key({"model": config.model, "weights": weights_identity(config.model, config.pretrained),
                       "formats": sorted(config.files), "engine": pick_engine(config.engine),
                       "eval_data": str(Path(config.eval_data).resolve()) if config.eval_data else None,
                       "limit": config.limit, "calibration_images": config.calibration_images,
                       "pte_int8": config.pte_int8, "versions": versions(),
                       "cpu": machine_class()})  # int8 recipes and the gate's verdicts depend on the CPU


def _build_one(variant: Variant, ctx: BuildContext, out: Path, probe: Probe, min_images: int | None,
               timer: Timer, say: Callable[[str], None], left: str = "") -> FileEntry:
    entry = FileEntry(variant.file, variant.format, variant.runtime, variant.precision, status="failed")
    missing = missing_packages(variant)
    if missing:
        entry.status = "skipped"
        entry.reason = f"not installed: {', '.join(missing)} (`pip install {' '.join(missing)}`)"
        say(f"{variant.file}: skipped, {entry.reason}")
        return entry
    t0 = time.perf_counter()
    try:
        say(f"{variant.file}: building{left}")
        with capturing(), atomic.staged_files(out, list(variant.files)) as tmp, expected_deprecations():
            built = variant.build(ctx, tmp / variant.file)
        entry.passes, entry.notes = built.passes, built.notes
        entry.build_s = round(time.perf_counter() - t0, 2)
        say(f"{variant.file}: measuring in {variant.runtime}")
        run = variant.load(out / variant.file, threads=torch.get_num_threads())
        entry.fidelity = probe.measure(run)
        entry.size_bytes = sum((out / f).stat().st_size for f in variant.files)
        entry.sha256, entry.status = file_digest(out / variant.file), "ok"
        entry.gate = gate_verdict(entry, min_images)
        if entry.gate == "pass":  # loaded and compiled already: a few more calls order the passing files
            entry.latency_ms = timer(variant.file, run, probe.pixels[0])
    except Exception as e:  # one variant's failure is recorded; the others still build
        for f in variant.files:  # no file that is not known to work, nor a stale one from an earlier build
            (out / f).unlink(missing_ok=True)
        if cache.is_disk_full(e, out, cache.estimate_bytes(parameters(ctx.model), [variant.file])):
            raise DiskFullError(_disk_full(variant.file, out)) from e  # the next files would fail alike
        entry.reason, entry.status, entry.gate = reason(e), "failed", None
        entry.fidelity = entry.size_bytes = entry.sha256 = entry.latency_ms = None  # of no file: it is removed
        say(f"{variant.file}: failed: {entry.reason}")
    return entry


def check_config(config: CompressConfig) -> None:
    """Refuse a config that cannot build, before any model loads.

    Raises:
        ConfigError: an unknown file, a limit or calibration count below 1, or an unknown pte_int8 mode.
    """
    unknown = [f for f in config.files if f not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown files {unknown}; known: {', '.join(VARIANTS)}")
    if config.limit < 1 or config.calibration_images < 1:
        raise ConfigError("limit and calibration_images must be at least 1")
    if config.pte_int8 not in ("static", "dynamic"):
        raise ConfigError(f"pte_int8 must be 'static' or 'dynamic', not {config.pte_int8!r}")


def gate_thresholds(min_images: int | None) -> dict:
    """What a file must meet to pass the fidelity gate, as the manifest records it.

    Args:
        min_images: the fewest fidelity images a verdict needs; None: any number (no image folder was given).
    """
    return {"min_agreement": GATE_AGREEMENT, **({"min_images": min_images} if min_images else {})}


def gate_verdict(entry: FileEntry, min_images: int | None) -> str | None:
    """The fidelity gate's verdict on a built file.

    Args:
        entry: the file's manifest entry, with its fidelity.
        min_images: as for `gate_thresholds`.

    Returns:
        "pass", "fail" or "too few images"; None for a file that did not build.
    """
    if entry.status != "ok":
        return None
    if min_images and entry.fidelity.images < min_images:
        return "too few images"
    return "pass" if entry.fidelity.top1_agreement >= GATE_AGREEMENT else "fail"


def parameters(module: torch.nn.Module) -> int:
    """A model's parameter count: what its files' sizes follow (`cache.estimate_bytes`)."""
    return sum(p.numel() for p in module.parameters())


def _disk_full(file: str, out: Path) -> str:
    return (f"The disk is full: writing {file} failed for lack of space ({cache.size_text(cache.free_bytes(out))} "
            f"free). The build stopped and kept none of its files; free some space, or lower {cache.ENV} so that "
            "fewer builds are kept.")


def _stopped(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def compress(clf: Classifier, config: CompressConfig, progress: Callable[[str], None] | None = None,
             timer: Timer | None = None, cancel: threading.Event | None = None,
             done: list[FileEntry] | tuple = ()) -> Manifest:
    """Build every requested file of a loaded model in config.out, measure each in its own runtime, time each
    file that passes the fidelity gate (a few calls: the fastest is the fast path's), and write the folder's
    manifest.json, last: a folder without one is not a finished build.

    Args:
        clf: the model, loaded as config.model and config.pretrained say.
        config: what to build; `check_config` refuses a bad one.
        progress: called with a message before each step, "[i/n] file: ...", with the time left once a file is built.
        timer: times a passing file; None: `median_ms`, a few calls at this process's thread count.
        cancel: when set, the build stops before its next file; the files built so far stay, and the manifest
            lists the others as left out.
        done: the entries of files already built in config.out (a stopped build's), kept as they are.

    Returns:
        The manifest, as written.

    Raises:
        DiskFullError: a write failed for lack of space; no file this call wrote is left, and no manifest.
    """
    check_config(config)
    say = progress or (lambda message: None)
    engine = pick_engine(config.engine)
    images = folder_images(config.eval_data, clf.labels, clf.name, config.limit) if config.eval_data \
        else example_images(config.limit)
    probe = Probe.of(clf.module, clf.preprocess, images)
    calibration = spread(probe.pixels, config.calibration_images)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # until the new one: the folder's files are changing
    built = {f.file: f for f in done}
    todo = [f for f in config.files if f not in built]
    min_images, eta, left_out = GATE_MIN_IMAGES if config.eval_data else None, Eta(len(todo)), []
    try:
        with quantized_engine(engine):
            ctx = BuildContext(clf.module, probe.pixels[0], calibration, engine, config.pte_int8)
            for i, f in enumerate(todo):
                if _stopped(cancel):
                    left_out = todo[i:]
                    say(f"stopped: {', '.join(left_out)} left out")
                    break
                step = eta.next()
                built[f] = _build_one(VARIANTS[f], ctx, out, probe, min_images, timer or median_ms,
                                      lambda message, step=step: say(f"{step} {message}"), eta.left())
        images = {"source": probe.source, "count": len(probe.pixels), "calibration": len(calibration),
                  **({"folder": str(Path(config.eval_data).resolve())} if config.eval_data else {})}
        manifest = Manifest(clf.spec.name, config.pretrained, clf.origin, engine, build_key(config), versions(),
                            list(probe.pixels[0].shape), images, probe.accuracy(probe.reference),
                            [built[f] for f in config.files if f in built], gate_thresholds(min_images),
                            cpu_record(), {"warmup": WARMUP, "calls": CALLS, "batch": 1,
                                           "threads": torch.get_num_threads()}, left_out)
        atomic.write_text(out / MANIFEST, json.dumps(manifest.to_dict(), indent=2))
    except DiskFullError:
        _remove(out, todo)
        raise
    except OSError as e:
        if not cache.is_disk_full(e, out):
            raise
        _remove(out, todo)
        raise DiskFullError(_disk_full(MANIFEST, out)) from e
    return manifest


def _remove(out: Path, files: list[str]) -> None:
    for f in files:
        for name in files_of(f):
            (out / name).unlink(missing_ok=True)


def _finished(out: Path) -> Manifest | None:
    try:
        return read_manifest(out)
    except FileNotFoundError:
        return None


def build_apart(on: bool = True) -> None:
    """From now on, `compress_cached` builds in a child process (`apart.compress_apart`): what a process that runs
    for weeks (the app) asks, so that what a build leaves in memory goes back when the build ends. Its timer is then
    `median_ms`'s, in the child."""
    global _apart
    _apart = on


def compress_cached(config: CompressConfig, root: str | Path, progress: Callable[[str], None] | None = None,
                    timer: Timer | None = None, cancel: threading.Event | None = None) -> tuple[Path, Manifest]:
    """`compress` into ROOT/<build key>, once: a finished build with the same key is reused (the model is not even
    loaded), a stopped one is finished (its left-out files built), and concurrent callers of one key, in this
    process or another, wait for a single build. A new build first makes room in the build cache (`cache.make_room`,
    from its estimated size), and records its fastest passing file for the fast path in ROOT/fastest.json
    (`record_fastest`). A build that fails or is interrupted leaves no folder behind. After `build_apart`, the build
    runs in a child process.

    Args:
        config: what to build; its `out` is ignored.
        root: the build root.
        progress: as for `compress`.
        timer: as for `compress`.
        cancel: as for `compress`; a stopped build's manifest lists its left-out files.

    Returns:
        (the build folder, its manifest).

    Raises:
        CacheLimitError: the build cannot fit, said before it starts.
        DiskFullError: as for `compress`; the build's folder is removed.
    """
    check_config(config)
    root = Path(root)
    out = root / build_key(config)
    with cache.building(out):
        manifest = _finished(out)
        if manifest is None or manifest.left_out:
            try:
                manifest = _build(config, root, out, manifest, progress, timer, cancel)
            except BaseException:
                if not (out / MANIFEST).exists():
                    shutil.rmtree(out, ignore_errors=True)  # no half-build in the cache
                raise
            cache.evict(root, keep=[out])  # estimates are estimates: back under the limit
        cache.touch(out)
    return out, manifest


def _build(config: CompressConfig, root: Path, out: Path, stopped: Manifest | None, progress, timer,
           cancel) -> Manifest:
    """A new build in out, or the rest of a stopped one, once there is room for it."""
    clf = get_classifier(config.model, config.pretrained)
    done = stopped.files if stopped else []
    if stopped is None:
        shutil.rmtree(out, ignore_errors=True)  # what a crashed build left
    for z in out.glob("*.zip"):  # of fewer files than the build will hold
        z.unlink()
    todo = [f for f in config.files if f not in {d.file for d in done}]
    cache.make_room(root, cache.estimate_bytes(parameters(clf.module), todo), keep=[out])
    if _apart:
        manifest = compress_apart(replace(config, out=out), resume=bool(done), threads=torch.get_num_threads(),
                                  progress=progress, cancel=cancel)
    else:
        manifest = compress(clf, replace(config, out=out), progress, timer=timer, cancel=cancel, done=done)
    fastest = manifest.fastest()
    if fastest:
        try:
            record_fastest(root, config.model, config.pretrained, variant=fastest.file, p50_ms=fastest.latency_ms,
                           agreement=fastest.fidelity.top1_agreement, by="build", build=out,
                           measured={f.file: f.latency_ms for f in manifest.passing() if f.latency_ms is not None})
        except OSError as e:  # the build is whole; only the fast path's record of it is lost
            if not cache.is_disk_full(e, root):
                raise
    return manifest


def zip_build(out: str | Path) -> Path:
    """The manifest and every built file of a build folder in one zip (written once, atomically).

    Raises:
        DiskFullError: no room for the zip; nothing of it is left.
    """
    out = Path(out)
    manifest = read_manifest(out)
    target = out / f"{manifest.model}-{out.name}.zip"
    if not target.exists():
        names = [MANIFEST] + [name for f in manifest.files if f.status == "ok"
                              for name in files_of(f.file)]
        try:
            with atomic.staged(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for name in names:
                    z.write(out / name, name)
        except OSError as e:
            if not cache.is_disk_full(e, out):
                raise
            raise DiskFullError(f"The disk is full: the zip of the build could not be written "
                                f"({cache.size_text(cache.free_bytes(out))} free); its files are still there to "
                                "download one by one.") from e
    return target
