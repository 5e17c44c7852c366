"""The OpenVINO IR backend, added as one module in vitspace/export/: it reaches the build, the manifest,
the card, the bench and the app's menus through the registry alone."""
import sys

import pytest
import torch

from vitspace import export
from vitspace.bench.run import BenchConfig, bench
from vitspace.bench.variants import BENCH_VARIANTS
from vitspace.card import build as card
from vitspace.classify.classifier import get_classifier
from vitspace.compress import build as vc

MODEL, FILE = "deit-tiny-cifar10", "model-int8.xml"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    out = tmp_path_factory.mktemp("openvino")
    config = vc.CompressConfig(MODEL, out, files=(FILE,), limit=4, calibration_images=4)
    return out, vc.compress(get_classifier(MODEL), config)


@pytest.mark.slow
def test_the_ir_builds_with_its_weights_and_agrees_with_fp32(build):
    out, manifest = build
    (entry,) = manifest.files
    assert entry.status == "ok" and entry.format == "openvino" and entry.precision == "int8"
    assert entry.size_bytes == (out / FILE).stat().st_size + (out / "model-int8.bin").stat().st_size
    assert entry.fidelity.top1_agreement == 1.0  # 4 example images, trained weights
    run = export.VARIANTS[FILE].load(out / FILE)
    assert run(torch.zeros(3, 3, 32, 32)).shape == (3, 10)  # any batch size


def test_the_ir_reaches_the_card_the_bench_and_the_zip(build):
    out, _ = build
    text = card.render_card(MODEL, out)
    assert "openvino" in text.split("---")[1] and "OpenVINO (`.xml` + `.bin`)" in text
    assert FILE in BENCH_VARIANTS and BENCH_VARIANTS[FILE].peer
    (result,) = bench(BenchConfig(MODEL, (FILE,), artifacts=out, limit=4, warmup=1, threads=1)).results
    assert result.status == "ok" and result.peer and result.agreement == 1.0
    import zipfile
    with zipfile.ZipFile(vc.zip_build(out)) as z:
        assert {FILE, "model-int8.bin", "manifest.json"} <= set(z.namelist())


def test_without_openvino_the_ir_is_skipped_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)
    config = vc.CompressConfig(MODEL, tmp_path, files=(FILE, "int8.pt"), limit=2, pretrained=False)
    manifest = vc.compress(get_classifier(MODEL, False), config)
    skipped, ok = manifest.files
    assert skipped.status == "skipped" and "pip install openvino" in skipped.reason and not manifest.failed
    assert ok.status == "ok" and not (tmp_path / FILE).exists()


def test_the_peers_settings_come_from_the_backend(monkeypatch):
    from vitspace.export import openvino
    monkeypatch.setattr(openvino, "precision_plan", lambda: type("Plan", (), {"bf16": False})())
    assert export.openvino_config(threads=2) == {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2,
                                                 "INFERENCE_PRECISION_HINT": "f32"}
    assert export.openvino_config(bf16=True)["INFERENCE_PRECISION_HINT"] == "bf16"
    monkeypatch.setattr(openvino, "precision_plan", lambda: type("Plan", (), {"bf16": True})())
    assert export.openvino_config() == {"PERFORMANCE_HINT": "LATENCY"}  # OpenVINO's own choice of precision
