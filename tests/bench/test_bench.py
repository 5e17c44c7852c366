"""vitspace.bench: the harness (warm-up, repetitions, schema, skips, cancellation, what a run writes where),
never speeds."""
import csv
import dataclasses
import json
import subprocess
import sys
import threading
import time

import pytest
import torch
from support import FIXTURES

from vitspace.bench import report as vr
from vitspace.bench import run as vb
from vitspace.bench import timing
from vitspace.bench.__main__ import main as bench_main
from vitspace.bench.variants import BENCH_VARIANTS, BenchVariant, default_variants
from vitspace.compress import fastpath
from vitspace.compress.build import CompressConfig, build_key, versions
from vitspace.compress.cache import USED
from vitspace.compress.manifest import MANIFEST, FileEntry, Manifest, read_manifest
from vitspace.util.cpuinfo import native_bf16

MODEL = "vit-tiny-cifar10"  # embedded architecture, 2.9M parameters: fast to run 20 times
# one thread: on a busy 2-core machine two OpenMP threads wait on each other (30x slower here)


def config(**kw) -> vb.BenchConfig:
    return vb.BenchConfig(MODEL, **{"pretrained": False, "limit": 4, "warmup": 2, "threads": 1, **kw})


@pytest.fixture
def counting(monkeypatch):
    """A variant whose first `slow` calls take 400 ms (warm-up), then run the model; counts its timed calls."""
    state = {"calls": 0, "slow": 3, "prepared": 0}

    def prepare(ctx):
        state["prepared"] += 1

        def run(x):
            state["calls"] += 1
            if state["calls"] <= state["slow"]:
                time.sleep(0.4)  # far above a forward of the tiny model, even on a busy machine
            return ctx.model(x)
        return run
    variant = BenchVariant("counting", "test", False, prepare, torch_ops=False)
    monkeypatch.setitem(BENCH_VARIANTS, "counting", variant)
    return state


def test_time_calls_excludes_warmup_and_counts_repetitions():
    calls = []

    def run(x):
        calls.append(x)
        time.sleep(0.05 if len(calls) <= 3 else 0)
    times = timing.time_calls(run, torch.zeros(1), warmup=3, reps=20)
    assert len(times) == 20 and len(calls) == 23
    assert max(times) < 40, "a warm-up call was timed"


def test_bench_reports_percentiles_of_the_timed_calls_only(counting):
    messages = []
    report = vb.bench(config(variants=("counting", "eager-fp32"), warmup=3, reps=20, batches=(1, 2)),
                      progress=messages.append)
    assert messages[0] == "[1/2] counting" and messages[1].startswith("[2/2] eager-fp32, about "), messages
    assert messages[1].endswith(" left")
    rows = {(r.variant, r.batch): r for r in report.results}
    assert set(rows) == {("counting", 1), ("counting", 2), ("eager-fp32", 1), ("eager-fp32", 2)}
    for r in report.results:
        assert r.status == "ok" and r.reps == 20 and r.warmup == 3
        assert 0 < r.p50_ms <= r.p90_ms and r.mean_ms > 0
        assert r.images_per_s == pytest.approx(r.batch * 1000 / r.mean_ms, rel=0.01)
    # the probe's agreement check makes the first calls, and they are the slow ones: none is timed either way
    assert rows["counting", 1].p50_ms < 400 and rows["counting", 1].agreement == 1.0
    assert report.machine["threads"] >= 1 and report.machine["quantized_engine"] in ("x86", "onednn", "fbgemm")


def test_too_few_repetitions_and_unknown_variants_are_refused():
    with pytest.raises(ValueError, match="at least 20"):
        vb.bench(config(reps=5))
    with pytest.raises(ValueError, match="unknown variants"):
        vb.bench(config(variants=("no-such-variant",)))


def test_json_and_csv_follow_the_schema(tmp_path, counting):
    report = vb.bench(config(variants=("eager-fp32", "counting", "mobile-tutorial-qnnpack"), batches=(1, 2)))
    vr.write_json(report, tmp_path / "b.json")
    vr.write_csv(report, tmp_path / "b.csv")
    data = json.loads((tmp_path / "b.json").read_text())
    assert {"cpu", "cores", "threads", "torch", "quantized_engine"} <= set(data["machine"])
    assert len(data["results"]) == 6
    types = {"variant": str, "runtime": str, "peer": bool, "batch": int, "p50_ms": float, "p90_ms": float,
             "mean_ms": float, "images_per_s": float}
    for row in data["results"]:
        assert set(vr.SCHEMA) <= set(row)
        for key, kind in types.items():
            assert isinstance(row[key], kind), (key, row[key])
        assert row["size_bytes"] is None or isinstance(row["size_bytes"], int)
        assert row["agreement"] is None or 0 <= row["agreement"] <= 1
    assert [r["peer"] for r in data["results"]] == [False, False, False, False, True, True]
    with open(tmp_path / "b.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:len(vr.SCHEMA)] == list(vr.SCHEMA) and len(rows) == 6
    assert [r["variant"] for r in rows] == [r["variant"] for r in data["results"]]


def test_missing_peer_runtime_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    report = vb.bench(config(variants=("openvino-bf16", "eager-fp32")))
    skipped, ok = report.results
    assert skipped.status == "skipped" and skipped.peer and "pip install openvino" in skipped.note
    assert skipped.p50_ms is None and ok.status == "ok"


def test_build_files_run_in_their_runtime_with_the_manifest_figures(tiny_build):
    manifest = read_manifest(tiny_build)
    entry = next(f for f in manifest.files if f.file == "int8-mobile.ptl")
    cfg = vb.BenchConfig("deit-tiny-cifar10", ("int8-mobile.ptl", "model.pte"), artifacts=tiny_build,
                         pretrained=False, warmup=1, threads=1)
    lite, pte = vb.bench(cfg).results
    assert lite.status == "ok" and lite.runtime == "lite interpreter" and lite.reps == 20
    assert lite.size_bytes == (tiny_build / "int8-mobile.ptl").stat().st_size == entry.size_bytes
    assert lite.agreement == entry.fidelity.top1_agreement
    assert pte.status == "skipped" and "not built" in pte.note


def test_a_cancelled_run_writes_nothing_and_a_finished_one_is_reused(tmp_path, counting):
    cancel = threading.Event()

    def progress(message):
        if message.startswith("[2/2]"):
            cancel.set()
    cfg = config(variants=("counting", "eager-fp32"))
    with pytest.raises(timing.BenchCancelled):
        vb.bench_cached(cfg, tmp_path, progress, cancel)
    assert not list(tmp_path.rglob("*.json")), "a cancelled run left results behind"
    report, cached = vb.bench_cached(cfg, tmp_path)
    assert not cached and len(report.ok()) == 2 and len(list(tmp_path.rglob(vb.RESULT))) == 1
    prepared = counting["prepared"]
    again, cached = vb.bench_cached(cfg, tmp_path)
    assert cached and counting["prepared"] == prepared
    assert [r.p50_ms for r in again.results] == [r.p50_ms for r in report.results]


@pytest.mark.slow
def test_cli_writes_json_and_csv_and_refuses_bad_arguments(tmp_path):
    cmd = [sys.executable, "-m", "vitspace.bench", "--model", MODEL, "--random-weights", "--variants", "eager-fp32",
           "--batch", "1,2", "--limit", "2", "--threads", "1", "--json", str(tmp_path / "b.json"),
           "--csv", str(tmp_path / "b.csv")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "eager-fp32" in done.stdout and "threads" in done.stdout and "[1/1] eager-fp32" in done.stderr
    assert len(json.loads((tmp_path / "b.json").read_text())["results"]) == 2
    bad = subprocess.run(cmd[:-4] + ["--reps", "5"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "at least 20" in bad.stderr


@pytest.mark.slow
def test_openvino_peers_run_each_batch_size_and_agree_with_fp32():
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    report = vb.bench(config(variants=("openvino-bf16", "openvino-int8"), batches=(1, 3)))
    rows = {(r.variant, r.batch): r for r in report.results}
    assert set(rows) == {(v, b) for v in ("openvino-bf16", "openvino-int8") for b in (1, 3)}
    for r in report.results:
        if r.variant == "openvino-bf16" and not native_bf16():  # emulated bf16 is no peer anyone would pick
            assert r.status == "skipped" and "not native" in r.note
            continue
        assert r.status == "ok" and r.peer and r.reps == 20, r.note
        assert r.agreement >= 0.75, "4 probe images: at most one top-1 flip"


def test_saved_runs_with_the_old_tutorial_name_still_load(tmp_path):
    report = vb.bench(config(variants=("mobile-tutorial-qnnpack",)))
    data = report.to_dict()
    data["results"][0]["variant"] = "seed-qnnpack-int8"  # as saved before the rename
    assert vr.Report.from_dict(data).results[0].variant == "mobile-tutorial-qnnpack"


def test_bench_writes_nothing_under_the_default_root_and_the_command_records_under_builds(monkeypatch, tmp_path):
    default, custom = tmp_path / "default", tmp_path / "custom"
    monkeypatch.setenv("VITSPACE_BUILDS", str(default))
    report = vb.bench(config(variants=("fp32.pt",), builds=custom))  # fp32 TorchScript: agrees, and is a file
    assert report.fastest_file().variant == "fp32.pt"
    (folder,) = [p.parent for p in custom.glob(f"*/{MANIFEST}")]  # the files it times, and no other
    assert sorted(p.name for p in folder.iterdir()) == [USED, "fp32.pt", MANIFEST]  # USED: the cache's last use
    assert (report.results[0].agreement, report.results[0].agreement_images) == (1.0, 4)
    assert vb.check_config(config()) == default_variants()  # no variants named: the default files and the peers
    assert not [n for n in default_variants() if "tome" in n] and "mobile-tutorial-qnnpack" in default_variants()
    assert not default.exists(), f"bench wrote under the default root: {list(default.rglob('*'))}"
    # its build timed the file and recorded it, as every build under a root does; the run's own figure is not
    assert fastpath.recorded_fastest(MODEL, pretrained=False, root=custom)["by"] == "build"
    assert bench_main(["--model", MODEL, "--random-weights", "--variants", "fp32.pt", "--limit", "4", "--threads",
                       "1", "--warmup", "1", "--builds", str(custom)]) == 0
    record = fastpath.recorded_fastest(MODEL, pretrained=False, root=custom)
    assert record["variant"] == "fp32.pt" and record["by"] == "bench" and (custom / record["build"]).is_dir()
    assert not default.exists() and fastpath.recorded_fastest(MODEL, pretrained=False) is None



def _fake_build(folder, build: CompressConfig, images: dict) -> None:
    """A finished build's manifest as `build` would write it, its files recorded as skipped: nothing to build."""
    files = [FileEntry(f, "x", "x", "fp32", "skipped", reason="a test's build") for f in build.files]
    manifest = Manifest(MODEL, False, "random", "x86", build_key(build), versions(), [1, 3, 32, 32], images, None,
                        files)
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps(manifest.to_dict()))


def test_a_build_of_more_files_is_reused_instead_of_a_new_one(tmp_path):
    wider = CompressConfig(MODEL, tmp_path, ("int8-mobile.ptl", "fp32.pt"), limit=4, pretrained=False)
    folder = tmp_path / build_key(wider)
    _fake_build(folder, wider, {"source": "examples", "count": 4})
    _fake_build(tmp_path / "other", dataclasses.replace(wider, limit=5), {"source": "examples", "count": 5})
    messages = []
    report = vb.bench(config(variants=("fp32.pt",), builds=tmp_path), progress=messages.append)
    assert report.config["artifacts"] == str(folder) and f"using the build {folder}: it holds fp32.pt" in messages
    assert len(list(tmp_path.glob(f"*/{MANIFEST}"))) == 2 and report.results[0].note == "fp32.pt was not built: " \
        "a test's build"


def test_agreement_rests_on_the_images_of_the_builds_fidelity_gate(tmp_path):
    build = CompressConfig(MODEL, tmp_path, ("fp32.pt",), eval_data=FIXTURES / "cifar10-test", limit=6,
                           pretrained=False)  # gate images from an image folder: 6; the bench's own would be 4
    _fake_build(tmp_path / "build", build, {"source": "eval-data x", "count": 6, "folder": str(build.eval_data)})
    report = vb.bench(config(variants=("eager-fp32",), artifacts=tmp_path / "build"))
    assert (report.results[0].agreement, report.results[0].agreement_images) == (1.0, 6)
    assert "1.000 (6)" in vr.format_table(report)
