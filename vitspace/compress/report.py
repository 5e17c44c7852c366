"""A build for people: its files as table cells, what was built and how it was checked, how to use each file."""
from pathlib import Path

from ..export import VARIANTS, files_of, usage_snippet
from ..util.table import cells
from .manifest import FileEntry, Manifest

__all__ = ["COLUMNS", "file_cells", "downloads", "summary", "usage"]

# Manifest.rows() key -> column header, in the table's order
COLUMNS = {"file": "file", "format": "format", "runtime": "runtime", "status": "status", "size_mb": "MB",
           "times_smaller": "x smaller", "top1_agreement": "top-1 agreement", "gate": "fidelity gate",
           "max_abs_logit_diff": "max |dlogit|", "accuracy": "accuracy", "passes": "passes", "notes": "notes"}


def _built(manifest: Manifest) -> list[FileEntry]:
    return [f for f in manifest.files if f.status == "ok"]


def file_cells(manifest: Manifest) -> list[list]:
    """One row of COLUMNS per file: size, times smaller than fp32.pt, fidelity, passes."""
    return cells(manifest.rows(), COLUMNS)


def downloads(manifest: Manifest, out: str | Path) -> list[Path]:
    """Every built file in the build folder `out`, each with the files written beside it (an IR's weights)."""
    return [Path(out) / name for f in _built(manifest) for name in files_of(f.file)]


def summary(manifest: Manifest) -> str:
    """Markdown: the model and its weights, the int8 engine, the fidelity images and gate, the CPU, what failed."""
    text = (f"**{manifest.model}** ({manifest.weights_label}), int8 engine `{manifest.engine}`, fidelity on "
            f"{manifest.images['count']} images from {manifest.images['source']}; a file passes the gate with at "
            f"least {manifest.gate_thresholds['min_agreement']:.0%} top-1 agreement with fp32. Built on "
            f"{manifest.cpu['class']}: int8 activations {manifest.cpu['precision']['int8_activations']}.")
    failed = [f"{f.file} {f.status}: {f.reason}" for f in manifest.files if f.status != "ok"]
    return text + ("\n\nNot built: " + "; ".join(failed) if failed else "")


def usage(manifest: Manifest) -> str:
    """Markdown: for each built file, code that loads and runs it in its runtime."""
    size = manifest.input_shape[-1]
    return "\n\n".join(f"**{f.file}** ({f.runtime})\n```{VARIANTS[f.file].language}\n"
                       f"{usage_snippet(f.file, input_size=size)}```" for f in _built(manifest))
