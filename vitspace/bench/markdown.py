"""A benchmark for people: its results as table cells, and a Markdown line on the machine and the method."""
from ..util.table import cells
from .report import Report, agreement_text

__all__ = ["COLUMNS", "result_cells", "summary"]

# Report.rows() key -> column header, in the table's order
COLUMNS = {"variant": "variant", "runtime": "runtime", "peer": "peer", "batch": "batch", "status": "status",
           "p50_ms": "p50 ms", "p90_ms": "p90 ms", "mean_ms": "mean ms", "images_per_s": "images/s",
           "speedup": "x eager fp32", "size_mb": "MB", "agreement": "top-1 agreement (images)",
           "peak_mem_mb": "peak MB", "profiler_ms": "profiler ms (mobile tutorial's figure)", "note": "note"}


def result_cells(report: Report) -> list[list]:
    """One row of COLUMNS per variant and batch size, with the speed-up over eager fp32 and the agreement with the
    number of images it rests on ("0.998 (500)")."""
    return cells([{**r, "agreement": agreement_text(r)} for r in report.rows()], COLUMNS)


def summary(report: Report, cached: bool = False) -> str:
    """Markdown: the model, machine, threads, torch and int8 engine, the timed and warm-up calls, and whether
    the run was measured now (`cached` False) or read back from an earlier one."""
    m, config = report.machine, report.config
    reps = report.results[0].reps or config["reps"]  # a skipped first variant timed nothing
    when = "Shown again from an earlier run." if cached else f"Measured in {report.seconds:.0f} s."
    return (f"**{config['model']}**, {m['cpu']}, {m['cores']} cores, {m['threads']} threads, torch {m['torch']}, "
            f"int8 engine `{m['quantized_engine']}`; {reps} timed calls after {config['warmup']} warm-up calls. "
            f"{when} Compare ratios within one run, not times across runs.")
