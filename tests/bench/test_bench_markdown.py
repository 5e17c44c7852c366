"""The Benchmark tab's text, built from a report without Gradio or a run."""
from vitspace.bench.markdown import COLUMNS, FASTEST, details, result_cells, result_table, summary
from vitspace.bench.report import Report, Result
from vitspace.util.table import FAILURE, PICK

MACHINE = {"cpu": "AMD EPYC", "cores": 2, "threads": 1, "torch": "2.14.1", "quantized_engine": "x86"}
CONFIG = {"model": "vit-tiny-cifar10", "warmup": 5, "reps": 20}


def _report(*results: Result, seconds: float = 12.4) -> Report:
    return Report(MACHINE, CONFIG, list(results), seconds)


EAGER = Result("eager-fp32", "torch", False, 1, 2.0, 2.5, 2.1, 476.19047, 22_000_000, 1.0, reps=20, warmup=5)
PEER = Result("mobile-tutorial-qnnpack", "torch.jit", True, 1, 4.0, 4.4, 4.1, 243.9, 6_000_000, 0.98, reps=20,
              agreement_images=500)
SKIPPED = Result("openvino-int8", "openvino", True, 1, status="skipped", note="openvino is not installed")


def test_result_cells_show_the_figures_first_each_at_its_precision_with_the_speed_up():
    rows = result_cells(_report(EAGER, PEER, SKIPPED))
    assert [len(r) for r in rows] == [len(COLUMNS)] * 3
    assert dict(zip(COLUMNS, rows[1])) == {
        "variant": "mobile-tutorial-qnnpack", "batch": 1, "p50_ms": "4.00", "p90_ms": "4.40", "mean_ms": "4.10",
        "images_per_s": "243.9", "speedup": "0.50", "size_mb": "6.00", "agreement": "0.980 (500)",
        "peak_mem_mb": "–", "peer": "peer", "status": "ok"}
    assert COLUMNS["agreement"] == "agreement (images)" and COLUMNS["p50_ms"] == "p50 ms"
    assert dict(zip(COLUMNS, rows[0]))["agreement"] == "1.000"  # a report saved before the count was kept
    assert dict(zip(COLUMNS, rows[0]))["status"] == FASTEST  # vitspace's fastest variant that passes the gate
    assert dict(zip(COLUMNS, rows[2])) == {
        "variant": "openvino-int8", "batch": 1, "p50_ms": "–", "p90_ms": "–", "mean_ms": "–", "images_per_s": "–",
        "speedup": "–", "size_mb": "–", "agreement": "–", "peak_mem_mb": "–", "peer": "peer", "status": "skipped"}


def test_the_table_picks_out_the_fastest_passing_variant_and_marks_agreement_below_the_gate():
    import gradio as gr
    table = result_table(_report(EAGER, PEER, SKIPPED))
    styles = gr.Dataframe(interactive=False).postprocess(table).metadata["styling"]  # as the page shows it
    assert all(PICK in s for s in styles[0]) and not any(PICK in s for s in styles[1] + styles[2])  # eager fp32's row
    assert [(i, j) for i, r in enumerate(styles) for j, s in enumerate(r) if FAILURE in s] == [
        (1, list(COLUMNS).index("agreement"))]  # the peer's 0.980


def test_the_long_fields_are_in_the_details():
    table = details(_report(EAGER, PEER, SKIPPED)).splitlines()
    assert table[:2] == ["| variant | batch | runtime | profiler ms | note |", "|---|---|---|---|---|"]
    assert table[2:] == ["| eager-fp32 | 1 | torch | – |  |", "| mobile-tutorial-qnnpack | 1 | torch.jit | – |  |",
                         "| openvino-int8 | 1 | openvino | – | openvino is not installed |"]
    assert details(_report()) == ""


def test_summary_of_a_run_measured_now_and_of_one_read_back():
    assert summary(_report(EAGER)) == (
        "**vit-tiny-cifar10**, AMD EPYC, 2 cores, 1 threads, torch 2.14.1, int8 engine `x86`; 20 timed calls after "
        "5 warm-up calls. Measured in 12 s. Compare ratios within one run, not times across runs.")
    assert "warm-up calls. Shown again from an earlier run. Compare" in summary(_report(EAGER), cached=True)


def test_summary_counts_the_timed_calls_of_the_config_when_the_first_variant_timed_none():
    assert "; 20 timed calls after 5" in summary(_report(SKIPPED, EAGER))
