"""The Compress tab's text, built from a manifest without Gradio or a build."""
import dataclasses
from pathlib import Path

from vitspace.compress.fidelity import Fidelity
from vitspace.compress.manifest import FileEntry, Manifest
from vitspace.compress.report import (
    COLUMNS,
    FAST_PATH,
    details,
    downloads,
    file_cells,
    file_table,
    summary,
    usage,
)
from vitspace.export import usage_snippet
from vitspace.util.table import FAILURE, PICK


def page_styles(table) -> list[list[str]]:
    """Each cell's CSS as a Gradio Dataframe shows the table."""
    import gradio as gr
    return gr.Dataframe(interactive=False).postprocess(table).metadata["styling"]


def _manifest(*files: FileEntry) -> Manifest:
    return Manifest("deit-tiny-cifar10", False, "random", "x86", "key", {}, [1, 3, 32, 32],
                    {"count": 10, "source": "examples/"}, None, list(files), gate_thresholds={"min_agreement": 0.95},
                    cpu={"class": "x86-64 AVX-512 VNNI", "precision": {"int8_activations": "u8"}})


FP32 = FileEntry("fp32.pt", "torchscript", "torch.jit", "fp32", "ok", size_bytes=22_000_000,
                 fidelity=Fidelity(10, 1.0, 0.0, 0.0), gate="pass")
IR = FileEntry("model-int8.xml", "openvino-ir", "openvino (CPU)", "int8", "ok", passes=["nncf"], size_bytes=5_500_000,
               fidelity=Fidelity(10, 0.9, 0.123456, 0.01, accuracy=0.8), gate="fail")
PTE = FileEntry("model.pte", "executorch", "executorch.runtime (XNNPACK)", "fp32", "skipped",
                reason="executorch is not installed")


def test_file_cells_show_the_figures_first_each_at_its_precision():
    rows = file_cells(_manifest(FP32, IR, PTE))
    assert [len(r) for r in rows] == [len(COLUMNS)] * 3
    assert list(COLUMNS.values()) == ["file", "MB", "× smaller", "agreement", "gate", "ms", "max |Δlogit|",
                                      "accuracy"]  # short headers, units in them
    assert dict(zip(COLUMNS, rows[1])) == {
        "file": "model-int8.xml", "size_mb": "5.50", "times_smaller": "4.00", "top1_agreement": "0.900",
        "gate": "✗ FAIL", "latency_ms": "–", "max_abs_logit_diff": "0.123", "accuracy": "0.800"}
    assert rows[0][list(COLUMNS).index("gate")] == "✓ pass"
    assert rows[2] == ["model.pte", "–", "–", "–", "skipped", "–", "–", "–"]  # not built: its status in the gate


def test_the_long_fields_are_in_the_details():
    table = details(_manifest(FP32, IR, PTE)).splitlines()
    assert table[:2] == ["| file | status | format | runtime | passes | notes |", "|---|---|---|---|---|---|"]
    assert table[3] == "| model-int8.xml | ok | openvino-ir | openvino (CPU) | nncf |  |"
    assert table[4] == ("| model.pte | skipped | executorch | executorch.runtime (XNNPACK) |  | executorch is not "
                        "installed |")
    assert details(_manifest()) == ""


def test_the_fastest_passing_file_is_marked_as_the_fast_path_and_old_manifests_mark_none():
    fast = dataclasses.replace(FP32, latency_ms=12.345)
    slower = dataclasses.replace(IR, gate="pass", latency_ms=20.0)
    failing = dataclasses.replace(IR, file="model-int8.onnx", latency_ms=None, gate="fail")
    manifest = dataclasses.replace(_manifest(slower, fast, failing), timing={"warmup": 3, "calls": 5})
    rows = [dict(zip(COLUMNS, row)) for row in file_cells(manifest)]
    assert [(r["gate"], r["latency_ms"]) for r in rows] == [("✓ pass", "20.00"), (FAST_PATH, "12.35"),
                                                            ("✗ FAIL", "–")]
    assert "| fast path: the fastest file that passed, 12.3 ms (median of 5 calls). |" in details(manifest)
    data = manifest.to_dict()
    del data["timing"]
    for f in data["files"]:
        del f["latency_ms"]  # as saved before builds timed their files
    old = Manifest.from_dict(data)
    assert old.fastest() is None and old.timing == {} and all("fast path" not in r["notes"] for r in old.rows())
    assert FAST_PATH not in [dict(zip(COLUMNS, row))["gate"] for row in file_cells(old)]
    styles = page_styles(file_table(manifest))  # the fast path's row picked out, the failure in red
    assert [PICK in s for s in styles[1]] == [True] * len(COLUMNS) and not any(PICK in s for s in styles[0])
    assert FAILURE in styles[2][list(COLUMNS).index("gate")] and sum(FAILURE in s for r in styles for s in r) == 1


def test_downloads_are_the_built_files_with_the_files_beside_them():
    out = Path("/builds/abc")
    assert downloads(_manifest(FP32, IR, PTE), out) == [out / "fp32.pt", out / "model-int8.xml",
                                                          out / "model-int8.bin"]
    assert downloads(_manifest(PTE), out) == []


def test_summary_names_the_model_the_gate_the_cpu_and_what_was_not_built():
    assert summary(_manifest(FP32, PTE)) == (
        "**deit-tiny-cifar10** (architecture only), int8 engine `x86`, fidelity on 10 images from examples/; "
        "a file passes the gate with at least 95% top-1 agreement with fp32. Built on x86-64 AVX-512 VNNI: int8 "
        "activations u8.\n\nNot built: model.pte skipped: executorch is not installed")
    assert "Not built" not in summary(_manifest(FP32))


def test_usage_shows_each_built_files_snippet_at_the_models_input_size():
    assert usage(_manifest(FP32, PTE)) == (f"**fp32.pt** (torch.jit)\n```python\n"
                                           f"{usage_snippet('fp32.pt', input_size=32)}```")
    assert usage(_manifest(PTE)) == ""
