"""vitspace's fastest CPU path for Classify: the fastest file that passes the fidelity gate on this CPU, as
measured (`vitspace.compress.fastest`): timed at the end of a build under the build root, or by a benchmark,
and recorded in the root's fastest.json. The recorded file is loaded from the build that holds it (built
again, alone, when that build is gone). With nothing recorded, or when the recorded file no longer passes,
the candidates (the int8 x86 program and dynamic int8 TorchScript) are built together, timed, and the faster
that passes is used, and recorded. A file exported for batch 1 (ExecuTorch's) runs the batches Classify
gathers one image at a time."""
import dataclasses
from pathlib import Path

import torch
from PIL import Image

from ..classify.classifier import Classifier, Comparison, compare_classifiers, get_classifier
from ..errors import FastPathUnavailable
from ..export import FAST_FILE, VARIANTS, Runner
from ..util.once import Memo
from ..util.paths import builds_root
from .build import CompressConfig, compress_cached
from .fastest import FASTEST, record_fastest, recorded_fastest
from .manifest import MANIFEST, FileEntry, read_manifest

__all__ = ["fast_classifier", "classifier", "compare", "fast_note", "record_fastest", "recorded_fastest",
           "choose", "FAST_FILE", "FASTEST", "CANDIDATES"]

CANDIDATES = (FAST_FILE, "int8.pt")  # built and timed together when nothing measured passes here
FAST_LIMIT = 16                      # fidelity images of the fast path's own builds
_fast = Memo()
_notes: dict[tuple[str, bool], str] = {}


def _entry(folder: Path, file: str) -> FileEntry | None:
    if not (folder / MANIFEST).exists():
        return None
    return next((f for f in read_manifest(folder).files if f.file == file), None)


def _why(entry: FileEntry | None, file: str) -> str:
    if entry is None or entry.status != "ok":
        return f"{file} did not build here: {entry.reason if entry else 'no build'}"
    return f"{file} did not pass the fidelity gate here: " + (
        f"{entry.fidelity.top1_agreement:.0%} agreement" if entry.fidelity else str(entry.reason))


def _passes(entry: FileEntry | None) -> bool:
    return entry is not None and entry.status == "ok" and entry.gate == "pass"


def choose(model: str, pretrained: bool = True, root: str | Path | None = None) -> tuple[Path, FileEntry, list[str]]:
    """The fast path's file for a model: the fastest passing file recorded for this CPU class, else the faster
    passing one of CANDIDATES, built (once, cached) and timed together under the root.

    Args:
        model: registry name or local transformers folder.
        pretrained: False for the architecture with random weights.
        root: the build root; None: `builds_root()`.

    Returns:
        (the build folder that holds it, its manifest entry, why files tried first were refused).

    Raises:
        FastPathUnavailable: no candidate passes the fidelity gate on this CPU.
    """
    root, refused = Path(root or builds_root()), []
    record = recorded_fastest(model, pretrained, root) or {}
    file = record.get("variant")
    if file in VARIANTS:
        folder = root / record["build"] if record.get("build") else None
        entry = _entry(folder, file) if folder else None
        if not (_passes(entry) and (folder / file).exists()):  # that build is gone: the file alone, again
            folder, _ = compress_cached(CompressConfig(model, root, (file,), pretrained=pretrained, limit=FAST_LIMIT),
                                        root)
            entry = _entry(folder, file)
        if _passes(entry):
            return folder, entry, refused
        refused.append(_why(entry, file))
    folder, manifest = compress_cached(CompressConfig(model, root, CANDIDATES, pretrained=pretrained,
                                                      limit=FAST_LIMIT), root)
    fastest = manifest.fastest()
    refused += [_why(f, f.file) for f in manifest.files if f is not fastest and not _passes(f)]
    if fastest is None:
        raise FastPathUnavailable(f"no fast file of {model} passes the fidelity gate on this CPU: "
                                  + "; ".join(refused))
    return folder, fastest, refused


def _batched(run: Runner) -> Runner:
    """A runner exported for batch 1 (ExecuTorch's) that takes the batches Classify gathers, one image at a time."""
    return lambda x: torch.cat([run(x[i:i + 1]) for i in range(x.shape[0])])


def _build(clf: Classifier) -> Classifier:
    folder, entry, refused = choose(clf.spec.name, clf.pretrained)
    variant = VARIANTS[entry.file]
    run = variant.load(folder / entry.file)
    fast = dataclasses.replace(clf, module=_batched(run) if variant.fixed_batch else run, fast=True)
    fast._logits([Image.new("RGB", (clf.spec.input_size,) * 2)])  # compiles now, not in the first request
    speed = f", the fastest that passes measured here ({entry.latency_ms:.3g} ms)" if entry.latency_ms else ""
    _notes[(clf.spec.name, clf.pretrained)] = f"fast path: `{entry.file}`{speed}" + (
        f" ({'; '.join(refused)})" if refused else "")
    return fast


def fast_classifier(name: str, pretrained: bool = True) -> Classifier:
    """The classifier on the fast CPU path, made once per process."""
    return _fast.get((name, pretrained), lambda: _build(get_classifier(name, pretrained)))


def fast_note(name: str, pretrained: bool = True) -> str:
    """Which file the fast path runs for a model, and why when it is not the first choice."""
    return _notes.get((name, pretrained), "")


def classifier(name: str, pretrained: bool = True, fast: bool = False) -> Classifier:
    """The classifier for a model: `fast_classifier` when fast, else `get_classifier`.

    Raises:
        FastPathUnavailable: fast, and no fast file of the model passes the fidelity gate on this CPU.
    """
    return fast_classifier(name, pretrained) if fast else get_classifier(name, pretrained)


def compare(image, models: list[str], top_k: int = 5, pretrained: bool = True, fast: bool = False) -> Comparison:
    """The same image through several models by name; the image is decoded once."""
    return compare_classifiers(image, [classifier(m, pretrained, fast) for m in models], top_k)
