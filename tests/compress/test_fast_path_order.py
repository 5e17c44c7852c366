"""The fast CPU path follows a measured order: each build times its passing files (a stubbed timer here imposes
the order; real timings belong to benchmarks), records the fastest per CPU class, and the Compress table marks it."""
import dataclasses

import pytest
import torch
from PIL import Image

from vitspace import export
from vitspace.classify.classifier import get_classifier
from vitspace.compress import build as vc
from vitspace.compress import fastpath
from vitspace.compress.fastest import FASTEST, record_fastest, recorded_fastest
from vitspace.compress.manifest import FileEntry
from vitspace.compress.report import COLUMNS, FAST_PATH, file_cells
from vitspace.util.once import Memo

MODEL = "deit-tiny-cifar10"  # trained, embedded: its int8 files agree with fp32 on the examples
ORDER = {"fp32.pt": 2.0, "int8.pt": 7.0}  # fp32 the faster: no fixed order of the fast path would pick it


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: one thread is faster than two that wait on each other
    yield
    torch.set_num_threads(threads)


def stub(file, run, x):
    assert x.shape == (1, 3, 32, 32) and run(x).shape == (1, 10)  # the loaded file, on one image
    return ORDER[file]


def test_the_timed_order_decides_the_fast_path_and_the_table_marks_it(monkeypatch, tmp_path, one_thread):
    monkeypatch.setenv("VITSPACE_BUILDS", str(tmp_path))
    monkeypatch.setattr(fastpath, "_fast", Memo())
    messages = []
    config = vc.CompressConfig(MODEL, tmp_path, ("int8.pt", "fp32.pt"), limit=4)
    out, manifest = vc.compress_cached(config, tmp_path, messages.append, timer=stub)
    assert {f.file: (f.gate, f.latency_ms) for f in manifest.files} == {"int8.pt": ("pass", 7.0),
                                                                        "fp32.pt": ("pass", 2.0)}
    assert manifest.fastest().file == "fp32.pt" and manifest.timing["calls"] == 5
    assert "[1/2] int8.pt: building" in messages
    assert any(m.startswith("[2/2] fp32.pt: building, about") and m.endswith(" left") for m in messages)
    gates = {row[0]: row[list(COLUMNS).index("gate")] for row in file_cells(manifest)}
    assert gates == {"fp32.pt": FAST_PATH, "int8.pt": "✓ pass"}  # the table marks it
    notes = {r["file"]: r["notes"] for r in manifest.rows()}  # its Details say how it was timed
    assert notes["fp32.pt"].startswith("fast path: the fastest file that passed, 2 ms")
    assert "fast path" not in notes["int8.pt"]

    record = recorded_fastest(MODEL, root=tmp_path)
    assert record["variant"] == "fp32.pt" and record["by"] == "build" and record["measured"] == ORDER
    folder, entry, refused = fastpath.choose(MODEL, root=tmp_path)  # from that build: nothing built again
    assert (folder, entry.file, refused) == (out, "fp32.pt", [])
    fast = fastpath.fast_classifier(MODEL)
    assert fast.fast and fastpath.fast_note(MODEL).startswith("fast path: `fp32.pt`, the fastest that passes")
    assert len(list(tmp_path.glob("*/manifest.json"))) == 1


def test_a_measurement_replaces_the_record_only_when_it_timed_the_recorded_file(tmp_path):
    def record(variant, measured, by="build"):
        return record_fastest(tmp_path, MODEL, True, variant=variant, p50_ms=measured[variant], agreement=1.0,
                              measured=measured, by=by, build=tmp_path / "abc")
    assert record("int8.pt", {"int8.pt": 5.0, "fp32.pt": 9.0})
    assert not record("fp32.pt", {"fp32.pt": 8.0})  # a build of one file cannot demote a faster one
    assert recorded_fastest(MODEL, root=tmp_path)["variant"] == "int8.pt"
    assert record("model-int8-x86.pt2", {"model-int8-x86.pt2": 3.0, "int8.pt": 6.0}, by="bench")
    saved = recorded_fastest(MODEL, root=tmp_path)
    assert (saved["variant"], saved["by"], saved["build"]) == ("model-int8-x86.pt2", "bench", "abc")
    assert recorded_fastest(MODEL, pretrained=False, root=tmp_path) is None and (tmp_path / FASTEST).is_file()


def test_a_recorded_file_whose_build_is_gone_is_built_again_alone(monkeypatch, tmp_path, one_thread):
    monkeypatch.setattr(vc, "median_ms", stub)  # the fast path's own builds time with the default timer
    record_fastest(tmp_path, MODEL, True, variant="fp32.pt", p50_ms=1.0, agreement=1.0, build=tmp_path / "gone")
    folder, entry, refused = fastpath.choose(MODEL, root=tmp_path)
    assert entry.file == "fp32.pt" and entry.latency_ms == 2.0 and (folder / "fp32.pt").is_file() and not refused
    assert folder.name == vc.build_key(vc.CompressConfig(MODEL, tmp_path, ("fp32.pt",), limit=fastpath.FAST_LIMIT))


def test_a_file_exported_for_batch_1_takes_the_batches_classify_gathers(monkeypatch, tmp_path):
    model = get_classifier(MODEL).module

    def load(path, threads=None):
        def run(x):
            assert x.shape[0] == 1, "a batch-1 program was handed a batch"
            return model(x)
        return run
    monkeypatch.setitem(export.VARIANTS, "model.pte", dataclasses.replace(export.VARIANTS["model.pte"], load=load))
    entry = FileEntry("model.pte", "executorch", "executorch.runtime (XNNPACK)", "fp32", "ok", gate="pass",
                      latency_ms=1.0)
    monkeypatch.setattr(fastpath, "choose", lambda model, pretrained: (tmp_path, entry, []))
    fast = fastpath._build(get_classifier(MODEL))
    assert fast._logits([Image.new("RGB", (32, 32))] * 3).shape == (3, 10)
