"""vitspace's fastest CPU path for Classify: a file that passed the fidelity gate on this CPU, built once
(cached) and loaded in its runtime. First the variant a benchmark recorded as fastest among those that
pass here (`record_fastest`, in the build root's fastest.json), then the int8 x86 program, then dynamic
int8 TorchScript; each only if it passes."""
import dataclasses
import json
from pathlib import Path

from PIL import Image

from ..classify.classifier import Classifier, Comparison, compare_classifiers, get_classifier
from ..errors import FastPathUnavailable
from ..export import FAST_FILE, VARIANTS
from ..util import atomic
from ..util.cpuinfo import machine_class
from ..util.once import KeyLocks, Memo
from ..util.paths import builds_root
from .build import CompressConfig, compress_cached

__all__ = ["fast_classifier", "classifier", "compare", "fast_note", "record_fastest", "recorded_fastest",
           "FAST_FILE", "FASTEST"]

FASTEST = "fastest.json"    # in the build root: per CPU class and model, the fastest variant that passed
FALLBACKS = (FAST_FILE, "int8.pt")
_fast = Memo()
_notes: dict[tuple[str, bool], str] = {}
_record_lock = KeyLocks()


def _key(model: str, pretrained: bool) -> str:
    return f"{model} ({'pretrained' if pretrained else 'random weights'})"


def _records(root: Path) -> dict:
    try:
        return json.loads((root / FASTEST).read_text())
    except (OSError, ValueError):
        return {}


def recorded_fastest(model: str, pretrained: bool = True, root: str | Path | None = None) -> dict | None:
    """What a benchmark recorded as the fastest passing variant of the model on this CPU class.

    Args:
        model: registry name or local transformers folder.
        pretrained: False for the architecture with random weights.
        root: the build root; None: `builds_root()`, the one the fast path reads.

    Returns:
        {"variant", "p50_ms", "agreement"}, or None when nothing was recorded.
    """
    return _records(Path(root or builds_root())).get(machine_class(), {}).get(_key(model, pretrained))


def record_fastest(root: str | Path, model: str, pretrained: bool, *, variant: str, p50_ms: float,
                   agreement: float | None) -> None:
    """Record the fastest passing variant of a model on this CPU class in ROOT/fastest.json.

    The fast path tries it first, ahead of its fallbacks, where root is the one it reads (`builds_root()`).

    Args:
        root: the build root to record under.
        model: registry name or local transformers folder.
        pretrained: False for the architecture with random weights.
        variant: a file of `vitspace.export.VARIANTS`.
        p50_ms: its median latency, as measured.
        agreement: its top-1 agreement with eager fp32.
    """
    path = Path(root) / FASTEST
    with _record_lock(str(path.resolve())):
        records = _records(Path(root))
        records.setdefault(machine_class(), {})[_key(model, pretrained)] = {
            "variant": variant, "p50_ms": p50_ms, "agreement": agreement}
        atomic.write_text(path, json.dumps(records, indent=2))


def _candidates(model: str, pretrained: bool, root: Path) -> list[str]:
    record = recorded_fastest(model, pretrained, root) or {}
    first = [record["variant"]] if record.get("variant") in VARIANTS else []
    return list(dict.fromkeys([*first, *FALLBACKS]))


def _build(clf: Classifier) -> Classifier:
    root, refused = builds_root(), []
    for file in _candidates(clf.spec.name, clf.pretrained, root):
        config = CompressConfig(clf.spec.name, root, (file,), pretrained=clf.pretrained, limit=16)
        out, manifest = compress_cached(config, root)
        entry = manifest.files[0]
        if entry.status == "ok" and entry.gate == "pass":
            fast = dataclasses.replace(clf, module=VARIANTS[file].load(out / file), fast=True)
            fast._logits([Image.new("RGB", (clf.spec.input_size,) * 2)])  # compiles now, not in the first request
            _notes[(clf.spec.name, clf.pretrained)] = f"fast path: `{file}`" + (
                f" ({'; '.join(refused)})" if refused else "")
            return fast
        refused.append(f"{file} did not pass the fidelity gate here: " + (
            f"{entry.fidelity.top1_agreement:.0%} agreement" if entry.fidelity else str(entry.reason)))
    raise FastPathUnavailable(f"no fast file of {clf.spec.name} passes the fidelity gate on this CPU: "
                              + "; ".join(refused))


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
