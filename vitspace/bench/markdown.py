"""A benchmark for people: its results as table cells, the long fields apart, and a Markdown line on the machine and
the method."""
from ..compress.build import GATE_AGREEMENT
from ..util.table import DASH, cells, markdown_table, styled
from .report import Report, agreement_text

__all__ = ["COLUMNS", "DETAILS", "FASTEST", "result_cells", "result_table", "details", "summary"]

# The figures first: Report.rows() key -> short column header with its unit, in the table's order. The status
# column also marks vitspace's fastest variant that passes the fidelity gate (FASTEST) at each batch size.
COLUMNS = {"variant": "variant", "batch": "batch", "p50_ms": "p50 ms", "p90_ms": "p90 ms", "mean_ms": "mean ms",
           "images_per_s": "images/s", "speedup": "× eager fp32", "size_mb": "MB",
           "agreement": "agreement (images)", "peak_mem_mb": "peak MB", "peer": "peer", "status": "status"}
# the long fields, in a table of their own
DETAILS = {"variant": "variant", "batch": "batch", "runtime": "runtime", "profiler_ms": "profiler ms",
           "note": "note"}
# each figure's decimal places
_DECIMALS = {"p50_ms": 2, "p90_ms": 2, "mean_ms": 2, "images_per_s": 1, "speedup": 2, "size_mb": 2,
             "peak_mem_mb": 1, "profiler_ms": 2}
FASTEST = "ok, fastest passing"


def _status(report: Report, row: dict) -> str:
    fastest = report.fastest_passing(row["batch"])
    return FASTEST if fastest and (fastest.variant, fastest.batch) == (row["variant"], row["batch"]) \
        and row["status"] == "ok" else row["status"]


def result_cells(report: Report) -> list[list]:
    """One row of COLUMNS per variant and batch size: times to 2 decimals, the speed-up over eager fp32, the
    agreement with the number of images it rests on ("0.998 (500)"), "peer" for a peer's row, and the status
    (FASTEST for vitspace's fastest variant that passes the gate); "–" where not measured."""
    rows = [{**r, "agreement": agreement_text(r) if r["agreement"] is not None else DASH,
             "peer": "peer" if r["peer"] else "", "status": _status(report, r)} for r in report.rows()]
    return cells(rows, COLUMNS, _DECIMALS)


def result_table(report: Report):
    """result_cells as a styled table (util.table.styled): the figures right-aligned, vitspace's fastest passing
    variant picked out, an agreement below the fidelity gate and a failed run in red."""
    rows, col = result_cells(report), list(COLUMNS).index
    failed = [(i, col("status")) for i, r in enumerate(report.rows()) if r["status"] == "failed"]
    failed += [(i, col("agreement")) for i, r in enumerate(report.rows())
               if r["agreement"] is not None and r["agreement"] < GATE_AGREEMENT]
    return styled(COLUMNS.values(), rows, picked=[i for i, r in enumerate(rows) if r[col("status")] == FASTEST],
                  failed=failed)


def details(report: Report) -> str:
    """Markdown: the long fields of each row (DETAILS: runtime, the mobile tutorial's profiler figure, the note)."""
    return markdown_table(DETAILS.values(), cells(report.rows(), DETAILS, {"profiler_ms": 2})) if report.results \
        else ""


def summary(report: Report, cached: bool = False) -> str:
    """Markdown: the model, machine, threads, torch and int8 engine, the timed and warm-up calls, and whether
    the run was measured now (`cached` False) or read back from an earlier one."""
    m, config = report.machine, report.config
    reps = report.results[0].reps or config["reps"]  # a skipped first variant timed nothing
    when = "Shown again from an earlier run." if cached else f"Measured in {report.seconds:.0f} s."
    return (f"**{config['model']}**, {m['cpu']}, {m['cores']} cores, {m['threads']} threads, torch {m['torch']}, "
            f"int8 engine `{m['quantized_engine']}`; {reps} timed calls after {config['warmup']} warm-up calls. "
            f"{when} Compare ratios within one run, not times across runs.")
