"""Stopping a build (compress's cancel): it stops before its next file, the files built and checked stay usable,
the manifest lists the others as left out, and asking for the same build again builds only those. A second caller
of a build under way waits for it and shares it."""
import threading

import pytest
import torch
from support import one_torch_thread

import vitspace.compress.build as vc
from vitspace.classify.classifier import get_classifier
from vitspace.compress.manifest import read_manifest
from vitspace.util.hashing import file_digest

MODEL = "deit-tiny-cifar10"
FILES = ("fp32.pt", "int8.pt", "int8-mobile.ptl")
pytest.fixture(autouse=True)(one_torch_thread)


def _config(tmp_path) -> vc.CompressConfig:
    return vc.CompressConfig(MODEL, tmp_path, files=FILES, limit=2, pretrained=False)


def _building(log: list[str]) -> list[str]:
    """The files whose build started, from the progress messages ("[1/3] fp32.pt: building")."""
    return [m.split("] ", 1)[1].split(":")[0] for m in log if ": building" in m]


def _stop_during_first_file(cancel: threading.Event, log: list[str], started: threading.Event | None = None):
    def progress(message: str) -> None:
        log.append(message)
        if ": building" in message:  # the Stop button pressed while the first file builds
            cancel.set()
            if started:
                started.set()
    return progress


def test_a_stopped_build_keeps_its_checked_files_and_the_next_request_builds_only_the_rest(tmp_path):
    root, cancel, log = tmp_path / "builds", threading.Event(), []
    out, stopped = vc.compress_cached(_config(tmp_path), root, progress=_stop_during_first_file(cancel, log),
                                      cancel=cancel)
    assert _building(log) == ["fp32.pt"] and "stopped: int8.pt, int8-mobile.ptl left out" in log[-1]
    assert [(f.file, f.status, f.gate) for f in stopped.files] == [("fp32.pt", "ok", "pass")]
    assert stopped.left_out == ["int8.pt", "int8-mobile.ptl"] == read_manifest(out).left_out
    assert [(r["file"], r["status"]) for r in stopped.rows()] == [("fp32.pt", "ok"), ("int8.pt", "left out"),
                                                                  ("int8-mobile.ptl", "left out")]
    assert not (out / "int8.pt").exists()
    x = torch.rand(1, 3, 32, 32)  # the file built before the stop is whole and checked: it runs as the model does
    with torch.inference_mode():
        torch.testing.assert_close(torch.jit.load(str(out / "fp32.pt"))(x), get_classifier(MODEL, False).module(x),
                                   atol=1e-4, rtol=0)
    assert file_digest(out / "fp32.pt") == stopped.files[0].sha256
    kept = (out / "fp32.pt").stat().st_mtime_ns

    log.clear()
    again, finished = vc.compress_cached(_config(tmp_path), root, progress=log.append)
    assert again == out and _building(log) == ["int8.pt", "int8-mobile.ptl"]
    assert [(f.file, f.status) for f in finished.files] == [(f, "ok") for f in FILES] and finished.left_out == []
    assert finished.files[0] == stopped.files[0] and (out / "fp32.pt").stat().st_mtime_ns == kept
    assert read_manifest(out).to_dict() == finished.to_dict()


def test_two_visitors_asking_for_one_build_share_it(tmp_path):
    """A starts the build and stops it; B, who asked meanwhile, waited for it and gets the rest built on A's files;
    C, later, gets the finished build without a step."""
    root, cancel, started, results = tmp_path / "builds", threading.Event(), threading.Event(), {}
    log_a, log_b, log_c = [], [], []

    def visitor(name, **kwargs):
        results[name] = vc.compress_cached(_config(tmp_path), root, **kwargs)
    a = threading.Thread(target=visitor, args=("a",),
                         kwargs={"progress": _stop_during_first_file(cancel, log_a, started), "cancel": cancel})
    a.start()
    started.wait()
    b = threading.Thread(target=visitor, args=("b",), kwargs={"progress": log_b.append})
    b.start()
    a.join()
    b.join()
    visitor("c", progress=log_c.append)
    (out_a, a_made), (out_b, b_made), (out_c, c_got) = results["a"], results["b"], results["c"]
    assert out_a == out_b == out_c
    assert a_made.left_out == ["int8.pt", "int8-mobile.ptl"] and _building(log_a) == ["fp32.pt"]
    assert _building(log_b) == ["int8.pt", "int8-mobile.ptl"] and b_made.left_out == []
    assert log_c == [] and c_got.to_dict() == b_made.to_dict()
