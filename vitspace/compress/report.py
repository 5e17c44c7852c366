"""A build for people: its files as table cells, what was built and how it was checked, how to use each file."""
from pathlib import Path

from ..export import VARIANTS, files_of, usage_snippet
from ..util.table import cells, markdown_table, styled
from .manifest import FileEntry, Manifest

__all__ = ["COLUMNS", "DETAILS", "FAST_PATH", "file_cells", "file_table", "details", "downloads", "summary", "usage"]

# The figures first: Manifest.rows() key -> short column header with its unit, in the table's order. The gate
# column also marks the fast path's file (FAST_PATH) and says "skipped" or "failed" for a file not built.
COLUMNS = {"file": "file", "size_mb": "MB", "times_smaller": "× smaller", "top1_agreement": "agreement",
           "gate": "gate", "latency_ms": "ms", "max_abs_logit_diff": "max |Δlogit|", "accuracy": "accuracy"}
# the long fields, in a table of their own
DETAILS = {"file": "file", "status": "status", "format": "format", "runtime": "runtime", "passes": "passes",
           "notes": "notes"}
# each figure's decimal places (None: three significant digits, for figures that span magnitudes)
_DECIMALS = {"size_mb": 2, "times_smaller": 2, "top1_agreement": 3, "accuracy": 3, "latency_ms": 2,
             "max_abs_logit_diff": None}
FAST_PATH = "✓ pass, fast path"
_GATE = {"pass": "✓ pass", "fail": "✗ FAIL"}


def _built(manifest: Manifest) -> list[FileEntry]:
    return [f for f in manifest.files if f.status == "ok"]


def _gate(row: dict, fastest: FileEntry | None) -> str:
    if row["status"] != "ok":
        return row["status"]
    return FAST_PATH if fastest and row["file"] == fastest.file else _GATE.get(row["gate"], row["gate"] or "")


def file_cells(manifest: Manifest) -> list[list]:
    """One row of COLUMNS per file: size, times smaller than fp32.pt, top-1 agreement with fp32 and the gate's
    verdict ("✗ FAIL" for a failing file, FAST_PATH for the fastest passing one, the status of a file not built),
    the build's time per image, logit difference, accuracy. Sizes and times to 2 decimals, agreement and accuracy
    to 3; "–" where not measured."""
    fastest, latency = manifest.fastest(), {f.file: f.latency_ms for f in manifest.files}
    rows = [{**r, "gate": _gate(r, fastest), "latency_ms": latency.get(r["file"])} for r in manifest.rows()]
    return cells(rows, COLUMNS, _DECIMALS)


def file_table(manifest: Manifest):
    """file_cells as a styled table (util.table.styled): the figures right-aligned, the fast path's file picked out,
    a gate failure or a file that failed to build in red."""
    rows, gate = file_cells(manifest), list(COLUMNS).index("gate")
    return styled(COLUMNS.values(), rows, picked=[i for i, r in enumerate(rows) if r[gate] == FAST_PATH],
                  failed=[(i, gate) for i, r in enumerate(rows) if r[gate] in (_GATE["fail"], "failed")])


def details(manifest: Manifest) -> str:
    """Markdown: the long fields of each file (DETAILS: status, format, runtime, passes, notes)."""
    rows = manifest.rows()
    return markdown_table(DETAILS.values(), cells(rows, DETAILS)) if rows else ""


def downloads(manifest: Manifest, out: str | Path) -> list[Path]:
    """Every built file in the build folder `out`, each with the files written beside it (an IR's weights)."""
    return [Path(out) / name for f in _built(manifest) for name in files_of(f.file)]


def summary(manifest: Manifest) -> str:
    """Markdown: the model and its weights, the int8 engine, the fidelity images and gate, the CPU, what failed, and
    what a stopped build left out."""
    text = (f"**{manifest.model}** ({manifest.weights_label}), int8 engine `{manifest.engine}`, fidelity on "
            f"{manifest.images['count']} images from {manifest.images['source']}; a file passes the gate with at "
            f"least {manifest.gate_thresholds['min_agreement']:.0%} top-1 agreement with fp32. Built on "
            f"{manifest.cpu['class']}: int8 activations {manifest.cpu['precision']['int8_activations']}.")
    failed = [f"{f.file} {f.status}: {f.reason}" for f in manifest.files if f.status != "ok"]
    stopped = (f"\n\n**Stopped** before {', '.join(manifest.left_out)}: the files built before the stop are "
               "checked and ready; build again to add the rest.") if manifest.left_out else ""
    return text + ("\n\nNot built: " + "; ".join(failed) if failed else "") + stopped


def usage(manifest: Manifest) -> str:
    """Markdown: for each built file, code that loads and runs it in its runtime."""
    size = manifest.input_shape[-1]
    return "\n\n".join(f"**{f.file}** ({f.runtime})\n```{VARIANTS[f.file].language}\n"
                       f"{usage_snippet(f.file, input_size=size)}```" for f in _built(manifest))
