"""vitspace's fastest CPU path for Classify: the int8 x86 program, built once (cached) and compiled."""
import dataclasses

from PIL import Image

from .compress import CompressConfig, compress_cached
from .errors import FastPathUnavailable
from .export import VARIANTS
from .export.pt2 import FAST_FILE
from .inference import Classifier, Comparison, compare_classifiers, get_classifier
from .keyed import Memo
from .paths import builds_root

__all__ = ["fast_classifier", "classifier", "compare", "FAST_FILE"]

_fast = Memo()


def _build(clf: Classifier) -> Classifier:
    root = builds_root()
    config = CompressConfig(clf.spec.name, root, (FAST_FILE,), pretrained=clf.pretrained, limit=16)
    out, manifest = compress_cached(config, root)
    entry = manifest.files[0]
    if entry.status != "ok":
        raise FastPathUnavailable(f"the fast int8 path is not available for {clf.spec.name} here: {entry.reason}")
    fast = dataclasses.replace(clf, module=VARIANTS[FAST_FILE].load(out / FAST_FILE), fast=True)
    fast._logits([Image.new("RGB", (clf.spec.input_size,) * 2)])  # compiles now, not in the first request
    return fast


def fast_classifier(name: str, pretrained: bool = True) -> Classifier:
    """The classifier on the fast CPU path (int8 for x86, compiled by inductor), made once per process."""
    return _fast.get((name, pretrained), lambda: _build(get_classifier(name, pretrained)))


def classifier(name: str, pretrained: bool = True, fast: bool = False) -> Classifier:
    return fast_classifier(name, pretrained) if fast else get_classifier(name, pretrained)


def compare(image, models: list[str], top_k: int = 5, pretrained: bool = True, fast: bool = False) -> Comparison:
    """The same image through several models by name; the image is decoded once."""
    return compare_classifiers(image, [classifier(m, pretrained, fast) for m in models], top_k)
