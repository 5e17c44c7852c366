"""Classify's exact runtime: per model, the fastest runtime on this CPU whose answers equal eager PyTorch's.

Each runtime of `RUNTIMES` runs the explained forward (logits, both methods' maps, DeiT's heads) on a few
inputs; one whose outputs all lie within TOLERANCE of the hooked eager forward's is timed (median of a few
calls, on the inference thread), and the fastest of those answers from then on. The exported files and the
choice (choice.json) are kept in BUILDS/runtime/<key>, the key naming the model, its weights, the library
versions and the CPU class, so a restart neither exports nor measures again. Until a model's choice is made
(in the background) it answers in eager PyTorch. The files are exported in a child process at low priority
(`export_apart`), as torch's graph capture would otherwise hold up every other capture in this process. The
folders count in the build cache's limit, and the least recently loaded go first when it needs room
(compress.cache); a model whose folder went exports again when it is next loaded.
VITSPACE_RUNTIME=eager forces eager; naming another runtime tries only that one.
"""
import copy
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from ..classify.classifier import Classifier, get_classifier, on_inference_thread
from ..compress import cache
from ..compress.build import versions, weights_identity
from ..errors import reason
from ..export import capturing
from ..export.variant import missing_packages
from ..util import atomic
from ..util.background import child_env
from ..util.cpuinfo import machine_class
from ..util.hashing import config_key
from ..util.once import once_on_disk
from ..util.paths import builds_root
from .graph import AttentionGraph, Explained
from .runtimes import ARTIFACTS, EAGER, RUNTIMES, Run, Runtime

__all__ = ["TOLERANCE", "ENV", "Trial", "Choice", "Engine", "differences", "choose", "load_engine", "engine",
           "prepare", "runtime_folder", "runtime_file", "export_files", "export_apart", "probe_pixels"]

log = logging.getLogger(__name__)

TOLERANCE = {"logits": 1e-4, "maps": 1e-4, "heads": 1e-4}   # max |runtime - eager| per output; measured ~1e-6
ENV = "VITSPACE_RUNTIME"
CHOICE = "choice.json"      # the choice among all runtimes; a restricted one (VITSPACE_RUNTIME) has its own file
CALLS = 5                   # timed calls per runtime, after one warm-up; the median decides
GRAPH = 1                   # the explained graph's version, in the key: a new graph exports again
FAILED = ".failed"          # beside a file whose export failed: the reason
EXPORT_TIMEOUT = 1800       # seconds for the child process that exports a model's files


@dataclass
class Trial:
    """One runtime's try: whether it ran and matched eager, by how much, and its median time."""
    runtime: str
    status: str                 # "ok", "differs", "missing" (not installed), "failed" or "skipped" (not this CPU)
    p50_ms: float | None = None
    diffs: dict[str, float] = field(default_factory=dict)   # output -> max |runtime - eager|
    reason: str = ""


@dataclass
class Choice:
    """The runtime chosen for a model on this CPU class, and every runtime's trial."""
    runtime: str
    trials: list[Trial]
    cpu: str = ""

    def to_dict(self) -> dict:
        """The choice as JSON data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Choice":
        """A choice read back from `to_dict`'s data."""
        return cls(data["runtime"], [Trial(**t) for t in data["trials"]], data.get("cpu", ""))


@dataclass
class Engine:
    """A model's explained forward in its runtime: `run(pixels)` answers a batch."""
    runtime: Runtime
    run: Run
    choice: Choice | None = None      # None: eager, while the choice is made or when forced

    @property
    def note(self) -> str:
        """What answered, for the page: "ONNX Runtime (fp32, same answers as PyTorch)"."""
        if self.runtime.name == EAGER.name:
            return EAGER.title
        return f"{self.runtime.title} ({self.runtime.precision}, same answers as PyTorch)"


def differences(reference: Explained, got: Explained) -> dict[str, float]:
    """Max |got - reference| of the logits, the maps (both methods) and DeiT's heads."""
    def worst(pairs) -> float:
        return max((float((a - b).abs().max()) for a, b in pairs), default=0.0)
    return {"logits": worst([(reference.logits, got.logits)]),
            "maps": worst((reference.maps[m], got.maps[m]) for m in reference.maps),
            "heads": worst((reference.heads[h], got.heads[h]) for h in reference.heads)}


def _p50_ms(run: Run, pixels: torch.Tensor, calls: int, timer: Callable[[], float]) -> float:
    run(pixels)  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(calls):
        t0 = timer()
        run(pixels)
        times.append((timer() - t0) * 1000)
    return round(statistics.median(times), 3)


def runtime_file(runtime: Runtime, graph: AttentionGraph, example: torch.Tensor, folder: Path) -> Path | None:
    """The runtime's file in `folder`, exported there first unless an earlier run left it.

    Raises:
        RuntimeError: an export in a child process (`export_apart`) failed; its reason is kept beside the file.
    """
    if runtime.artifact is None:
        return None
    path, failed = folder / runtime.artifact, folder / f"{runtime.artifact}{FAILED}"
    if failed.exists():
        raise RuntimeError(failed.read_text())
    if not path.exists():
        # a copy: exporting swaps the parameters for fake ones for a while, and requests may be running the model
        exported = AttentionGraph(copy.deepcopy(graph.module)).eval()
        with capturing(), atomic.staged(path) as tmp:  # a build's trace on another thread waits meanwhile
            ARTIFACTS[runtime.artifact](exported, example, tmp)
    return path


def _artifacts(runtimes) -> list[str]:
    """The files that the runtimes which can run here need."""
    return list(dict.fromkeys(r.artifact for r in runtimes if r.artifact and r.usable() and not missing_packages(r)))


def export_files(model: str, pretrained: bool, folder: Path, runtimes=None) -> dict[str, str]:
    """Export the runtimes' files of a model's explained forward into `folder`, each apart: a file that fails
    leaves its reason in <file>.failed instead. What `python -m vitspace.explain --runtime-files` runs.

    Returns:
        file -> "ok" or the reason it failed.
    """
    clf = get_classifier(model, pretrained)
    graph, pixels, done = AttentionGraph(clf.module, clf.spec.name).eval(), probe_pixels(clf), {}
    folder.mkdir(parents=True, exist_ok=True)
    for artifact in _artifacts(runtimes or _forced() or RUNTIMES.values()):  # VITSPACE_RUNTIME's, as the app's
        runtime = next(r for r in RUNTIMES.values() if r.artifact == artifact)
        try:
            runtime_file(runtime, graph, pixels, folder)
            done[artifact] = "ok"
        except Exception as e:  # recorded: the runtimes that read this file are not tried
            done[artifact] = f"exporting {artifact} failed: {reason(e)}"
            atomic.write_text(folder / f"{artifact}{FAILED}", done[artifact])
    return done


_one_child = threading.Lock()


def _unsettled(folder: Path, artifacts: list[str]) -> list[str]:
    """The files neither exported into `folder` nor recorded there as failed."""
    return [a for a in artifacts if not (folder / a).exists() and not (folder / f"{a}{FAILED}").exists()]


def export_apart(clf: Classifier, folder: Path, runtimes=None, timeout: float = EXPORT_TIMEOUT) -> None:
    """`export_files` in a child process (at low priority, ended with this one), for the files not exported yet.
    In this process an export would hold the capture lock (export.capture) for minutes: visitors' builds would
    wait on it. A child that cannot finish leaves each missing file's reason in <file>.failed."""
    missing = _unsettled(folder, _artifacts(runtimes or RUNTIMES.values()))
    if not missing:
        return
    command = [sys.executable, "-m", "vitspace.explain", "--model", clf.spec.name, "--runtime-files", str(folder),
               *([] if clf.pretrained else ["--random-weights"])]
    try:
        with _one_child:  # models' exports one after another: each child takes the CPU it can get
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=child_env())
        why = f"the export process ended with status {done.returncode}: {done.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        why = f"the export process took over {timeout:.0f} s and was stopped"
    folder.mkdir(parents=True, exist_ok=True)
    for artifact in _unsettled(folder, missing):
        atomic.write_text(folder / f"{artifact}{FAILED}", why)


def _try(runtime: Runtime, graph: AttentionGraph, pixels: torch.Tensor, reference: Explained, folder: Path,
         threads: int) -> tuple[Trial, Run | None]:
    if not runtime.usable():
        return Trial(runtime.name, "skipped", reason="not run on this CPU"), None
    if missing := missing_packages(runtime):
        return Trial(runtime.name, "missing", reason=f"not installed: {', '.join(missing)}"), None
    try:
        run = runtime.load(graph, runtime_file(runtime, graph, pixels, folder), threads)
        diffs = differences(reference, on_inference_thread(run, pixels))
    except Exception as e:  # an exporter or runtime that cannot take this model: recorded, never chosen
        return Trial(runtime.name, "failed", reason=reason(e)), None
    exact = all(diffs[k] <= TOLERANCE[k] for k in diffs)
    return Trial(runtime.name, "ok" if exact else "differs", diffs=diffs), run if exact else None


def choose(graph: AttentionGraph, pixels: torch.Tensor, folder: Path, *, runtimes: list[Runtime] | None = None,
           timer: Callable[[], float] = time.perf_counter, calls: int = CALLS,
           threads: int | None = None) -> tuple[Choice, Run]:
    """Try each runtime against eager on `pixels`, time those that match, and pick the fastest.

    Args:
        graph: the model's explained forward.
        pixels: preprocessed inputs (B, 3, H, W), B > 1 so that a file's batch dimension is checked too.
        folder: where the runtimes' files are exported (and found by a later call).
        runtimes: those to try (default: RUNTIMES); eager is always one of them, the fallback.
        timer: seconds, as time.perf_counter (a test stubs it).
        calls: timed calls per runtime.
        threads: intra-op threads of the runtimes (default: torch's).

    Returns:
        The choice and the chosen runtime's run.
    """
    threads = threads or torch.get_num_threads()
    runtimes = [EAGER, *(r for r in (runtimes or RUNTIMES.values()) if r.name != EAGER.name)]
    reference = on_inference_thread(EAGER.load(graph, None, threads), pixels)
    trials, best, best_run = [], None, None
    for runtime in runtimes:
        trial, run = _try(runtime, graph, pixels, reference, folder, threads)
        if run is not None:
            trial.p50_ms = on_inference_thread(_p50_ms, run, pixels[:1], calls, timer)  # one image: a request
            if best is None or trial.p50_ms < best.p50_ms:
                best, best_run = trial, run   # the slower ones' sessions are let go as we go
        trials.append(trial)
    return Choice(best.runtime, trials, machine_class()), best_run


def probe_pixels(clf: Classifier, n: int = 3) -> torch.Tensor:
    """n seeded noise images through the model's own preprocessing."""
    g = torch.Generator().manual_seed(0)
    size = (clf.spec.input_size,) * 2
    images = [Image.fromarray(torch.randint(0, 256, (*size, 3), generator=g, dtype=torch.uint8).numpy())
              for _ in range(n)]
    return clf.preprocess(images)


def runtime_folder(clf: Classifier, root: str | Path | None = None) -> Path:
    """BUILDS/runtime/<key>: the model's exported files and choice on this CPU class with these libraries."""
    key = config_key({"model": clf.spec.name, "weights": weights_identity(clf.spec.name, clf.pretrained),
                      "versions": versions(), "cpu": machine_class(), "graph": GRAPH})
    return Path(root or builds_root()) / "runtime" / key


def _forced() -> list[Runtime] | None:
    name = os.environ.get(ENV, "").strip()
    return [RUNTIMES[name]] if name in RUNTIMES else None


def load_engine(clf: Classifier, *, root: str | Path | None = None, runtimes: list[Runtime] | None = None,
                timer: Callable[[], float] = time.perf_counter) -> Engine:
    """The classifier's engine in its chosen runtime: the recorded choice, else one made now and recorded.

    Args:
        clf: a ViT or DeiT classifier.
        root: the build root (default: `builds_root()`).
        runtimes: those to try (default: RUNTIMES, or VITSPACE_RUNTIME's); eager alone: no choice.
        timer: as for `choose`.
    """
    graph = AttentionGraph(clf.module, clf.spec.name).eval()
    runtimes = runtimes or _forced()
    if runtimes is not None and [r.name for r in runtimes] == [EAGER.name]:
        return Engine(EAGER, EAGER.load(graph, None, torch.get_num_threads()))
    folder, made = runtime_folder(clf, root), {}
    record = folder / (CHOICE if runtimes is None else f"choice-{'+'.join(sorted(r.name for r in runtimes))}.json")

    def make() -> Choice:
        export_apart(clf, folder, runtimes)
        made["choice"], made["run"] = choose(graph, probe_pixels(clf), folder, runtimes=runtimes, timer=timer)
        atomic.write_text(record, json.dumps(made["choice"].to_dict(), indent=2))
        return made["choice"]
    with cache.building(folder):  # the build cache's eviction leaves it alone meanwhile; a use, for its LRU order
        choice, _ = once_on_disk(record, lambda: Choice.from_dict(json.loads(record.read_text())), make)
        runtime = RUNTIMES[choice.runtime]
        run = made.get("run") or runtime.load(graph, folder / runtime.artifact if runtime.artifact else None,
                                              torch.get_num_threads())
        cache.touch(folder)
    return Engine(runtime, run, choice)


_engines: dict[Classifier, Engine] = {}
_threads: dict[Classifier, threading.Thread] = {}
_lock = threading.Lock()


def engine(clf: Classifier) -> Engine:
    """The classifier's engine now: its chosen runtime once `prepare` has made the choice, eager until then."""
    chosen = _engines.get(clf)
    if chosen is not None:
        return chosen
    return Engine(EAGER, EAGER.load(AttentionGraph(clf.module, clf.spec.name), None, torch.get_num_threads()))


def _yield_cpu() -> None:
    """Lower this thread's priority (Linux: per thread), so that exporting gives way to requests."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: exports at the usual priority
        pass


def _prepare(clf: Classifier) -> None:
    _yield_cpu()
    try:
        _engines[clf] = load_engine(clf)
    except Exception:  # the model keeps answering in eager PyTorch
        log.exception("no runtime choice for %s; it stays on eager PyTorch", clf.spec.name)


def prepare(clf: Classifier, *, wait: bool = False) -> None:
    """Make the classifier's runtime choice once per process, on a thread of its own; `wait` for it to end."""
    with _lock:
        thread = _threads.get(clf)
        if thread is None:
            thread = _threads[clf] = threading.Thread(target=_prepare, args=(clf,), daemon=True,
                                                      name=f"vitspace-runtime-{clf.spec.name}")
            thread.start()
    if wait:
        thread.join()
