"""Right answers on every CPU: precision chosen per CPU class, the fidelity gate, and the fast path's choice.

The CPU classes this project meets (AVX2 only; AVX-512 with VNNI) are emulated on any x86 machine with
ATen's and oneDNN's own switches, each in a subprocess, since both are read when torch starts.
"""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import ROOT

from vitspace import export
from vitspace.bench.report import Report, Result, format_table
from vitspace.bench.run import BenchConfig, bench, record_fastest_file
from vitspace.compress import build as vc
from vitspace.compress import fastpath
from vitspace.compress.fidelity import Fidelity
from vitspace.compress.manifest import FileEntry
from vitspace.export.pt2 import FAST_FILE
from vitspace.util.cpuinfo import CpuInfo, cpu_info, precision_plan

FIXTURE = ROOT / "tests" / "fixtures" / "cifar10-test"   # 1,000 CIFAR-10 test images
MODEL = "deit-tiny-cifar10"
_HAS_VNNI = "avx512_vnni" in cpu_info().flags
CLASSES = {  # ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA; a class above the CPU at hand cannot be emulated
    "avx2": ("avx2", "AVX2"),
    "default-aten, avx2-onednn": pytest.param("default", "AVX2", marks=pytest.mark.skipif(
        torch.backends.cpu.get_cpu_capability() == "AVX2", reason="the same run as avx2 on this CPU: ATen's "
        "default here is AVX2")),
    "avx512-vnni": pytest.param("avx512", "AVX512_CORE_VNNI", marks=pytest.mark.skipif(
        not _HAS_VNNI, reason="emulates an AVX-512 VNNI CPU: this one lacks the instructions (SIGILL)")),
}
x86 = pytest.mark.skipif(not torch.backends.cpu.get_cpu_capability().startswith(("AVX2", "AVX512")),
                         reason="emulates lesser x86 CPUs: needs an x86 CPU with AVX2")


def _run(code: str, aten: str, onednn: str, tmp_path: Path) -> dict:
    env = {**__import__("os").environ, "ATEN_CPU_CAPABILITY": aten, "ONEDNN_MAX_CPU_ISA": onednn,
           "VITSPACE_BUILDS": str(tmp_path / "builds"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_precision_plan_follows_the_cpu():
    amx = CpuInfo("x86_64", "GenuineIntel", "Xeon", "AVX512", ("avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16"))
    avx2 = CpuInfo("x86_64", "AuthenticAMD", "EPYC", "AVX2", ())
    assert precision_plan(amx) == precision_plan(amx).__class__(int8_reduce_range=False, bf16=True)
    assert precision_plan(avx2).int8_reduce_range and not precision_plan(avx2).bf16


@x86
@pytest.mark.parametrize("aten, onednn", CLASSES.values(), ids=list(CLASSES))
@pytest.mark.slow
def test_plan_and_bench_under_emulated_cpus(aten, onednn, tmp_path):
    code = ("import json; from vitspace.util.cpuinfo import precision_plan, cpu_record; "
            "from vitspace.bench.run import BenchConfig, bench; "
            "r = bench(BenchConfig('vit-tiny-cifar10', ('eager-bf16',), threads=1, limit=2, warmup=1, "
            "pretrained=False)).results[0]; "
            "print(json.dumps({'plan': precision_plan().__dict__, 'cpu': cpu_record(), 'bf16': r.status}))")
    out = _run(code, aten, onednn, tmp_path)
    native = onednn.startswith("AVX512") and aten == "avx512" and "avx512_bf16" in out["cpu"]["flags"]
    assert out["plan"]["bf16"] == native and out["bf16"] == ("ok" if native else "skipped")
    assert out["plan"]["int8_reduce_range"] == (onednn == "AVX2")
    assert out["cpu"]["onednn_max_isa"] == onednn and f"oneDNN {onednn}" in out["cpu"]["class"]


@pytest.mark.slow
@x86
@pytest.mark.parametrize("aten, onednn", CLASSES.values(), ids=list(CLASSES))
def test_fast_path_keeps_99_percent_agreement_under_each_cpu_class(aten, onednn, tmp_path):
    code = ("import json; from vitspace.compress.build import CompressConfig, compress; "
            "from vitspace.classify.classifier import get_classifier; "
            f"m = compress(get_classifier('{MODEL}'), CompressConfig('{MODEL}', '{tmp_path / 'out'}', "
            f"('{FAST_FILE}',), eval_data='{FIXTURE}', limit=1000)); "
            "f = m.files[0]; print(json.dumps({'status': f.status, 'gate': f.gate, 'agreement': "
            "f.fidelity.top1_agreement, 'passes': f.passes, 'cpu': m.cpu}))")
    out = _run(code, aten, onednn, tmp_path)
    assert out["status"] == "ok" and out["agreement"] >= 0.99 and out["gate"] == "pass", out
    assert any("reduce_range" in p for p in out["passes"]) == (onednn == "AVX2")
    assert any("patch_embed in float" in p for p in out["passes"]) == (onednn == "AVX2"), "the stem sees raw pixels"


def test_the_gate_needs_99_percent_and_enough_images():
    fid = Fidelity(images=500, top1_agreement=0.99, max_abs_logit_diff=0.1, mean_abs_logit_diff=0.01)
    entry = FileEntry("x", "pt2", "r", "int8", "ok", fidelity=fid)
    with_fid = lambda **kw: dataclasses.replace(entry, fidelity=dataclasses.replace(fid, **kw))  # noqa: E731
    assert vc.gate_verdict(entry, 500) == "pass"
    assert vc.gate_verdict(with_fid(top1_agreement=0.985), 500) == "fail"
    assert vc.gate_verdict(with_fid(images=499), 500) == "too few images"
    assert vc.gate_verdict(with_fid(images=10), None) == "pass"
    assert vc.gate_verdict(dataclasses.replace(entry, status="failed", fidelity=None), 500) is None


@pytest.mark.slow
def test_fast_path_skips_a_file_that_fails_the_gate_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("VITSPACE_BUILDS", str(tmp_path))
    noise = dataclasses.replace(export.VARIANTS[FAST_FILE], load=lambda path, threads=None: (
        lambda x: torch.randn(x.shape[0], 10)))  # built fine, answers at random
    monkeypatch.setitem(export.VARIANTS, FAST_FILE, noise)
    monkeypatch.setattr(fastpath, "_fast", fastpath.Memo())
    # trained weights: random ones are unseeded, and in one CI run their int8 file fell to 80% agreement
    fast = fastpath.fast_classifier("vit-tiny-cifar10", pretrained=True)
    note = fastpath.fast_note("vit-tiny-cifar10", pretrained=True)
    assert note.startswith("fast path: `int8.pt`") and f"{FAST_FILE} did not pass the fidelity gate" in note
    assert fast.fast and fast.predict(ROOT / "examples" / "cat.jpg").label


def test_the_fastest_passing_file_is_recorded_and_the_fast_path_uses_it(monkeypatch, tmp_path):
    monkeypatch.setenv("VITSPACE_BUILDS", str(tmp_path))
    report = bench(BenchConfig("vit-tiny-cifar10", ("eager-fp32", "int8.pt", "mobile-tutorial-qnnpack"),
                               threads=1, limit=2, warmup=1, pretrained=False))
    verdict = report.to_dict()["verdict"]
    assert verdict["best_peer"] == "mobile-tutorial-qnnpack" and verdict["fastest_passing"] in ("eager-fp32", "int8.pt")
    built = fastpath.recorded_fastest("vit-tiny-cifar10", pretrained=False)
    assert built is None or (built["variant"], built["by"]) == ("int8.pt", "build"), "the bench's own figure waits"
    recorded = record_fastest_file(report, tmp_path)
    record = fastpath.recorded_fastest("vit-tiny-cifar10", pretrained=False)
    if verdict["fastest_passing"] == "int8.pt":  # a file: recorded for the fast path on this CPU class
        assert recorded.variant == record["variant"] == "int8.pt" and record["by"] == "bench"
        folder, entry, refused = fastpath.choose("vit-tiny-cifar10", False, tmp_path)
        assert entry.file == "int8.pt" and folder == tmp_path / record["build"] and not refused
    else:
        assert recorded is None and record == built


def test_above_the_target_ratio_the_bench_shows_speed_against_agreement():
    rows = [("eager-fp32", False, 240, 1.0), ("model-int8-x86.pt2", False, 66, 0.992),
            ("model-int8-x86-tome-r8.pt2", False, 60, 0.97), ("model-int8-x86-tome-r16.pt2", False, 49, 0.90),
            ("int8.pt", False, 70, 0.99), ("openvino-int8", True, 57, 0.98)]
    report = Report({"cpu": "test", "cores": 2, "threads": 2, "torch": "x", "quantized_engine": "x86"}, {},
                    [Result(v, "rt", peer, 1, p50, p50, p50, 1000 / p50, agreement=a) for v, peer, p50, a in rows])
    assert report.verdict()["fastest_passing"] == "model-int8-x86.pt2" and report.verdict()["ratio"] > 0.8
    assert [r.variant for r in report.frontier()] == ["model-int8-x86-tome-r16.pt2", "model-int8-x86-tome-r8.pt2",
                                                      "model-int8-x86.pt2", "eager-fp32"]
    assert "above 0.8x: speed against agreement, fastest first: model-int8-x86-tome-r16.pt2 49.0 ms 90.0%" \
        in format_table(report)
