"""Builds in a child process (`build_apart`, what the app asks): the same files, progress, Stop and sentences as a
build in the process, and what tracing leaves in memory goes with the child, not into the app's process."""
import ctypes
import threading
from pathlib import Path

import pytest
import torch

import vitspace.compress.build as vc
from vitspace.classify.classifier import get_classifier
from vitspace.compress.apart import _event, config_json
from vitspace.compress.child import config_from_json
from vitspace.compress.manifest import read_manifest

MODEL = "deit-tiny-cifar10"
FILES = ("fp32.pt", "int8.pt")


@pytest.fixture
def apart():
    vc.build_apart()
    yield
    vc.build_apart(False)


def _rss_mb() -> float:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_a_config_goes_to_the_child_as_it_is(tmp_path):
    config = vc.CompressConfig(MODEL, tmp_path / "out", FILES, "x86", tmp_path / "images", 7, 3, "dynamic", False)
    assert config_from_json(config_json(config)) == config


def test_what_a_library_prints_in_the_child_is_not_taken_for_an_event():
    assert _event('{"say": "[1/2] fp32.pt: building"}\n') == {"say": "[1/2] fp32.pt: building"}
    assert _event("OpenVINO banner\n") == {} and _event("[1, 2]\n") == {}


@pytest.mark.slow
def test_a_build_apart_stops_resumes_and_leaves_this_process_no_bigger(tmp_path, apart):
    root, cancel, log = tmp_path / "builds", threading.Event(), []

    def stop_at_first_file(message: str) -> None:
        log.append(message)
        if ": building" in message:
            cancel.set()
    config = vc.CompressConfig(MODEL, tmp_path, FILES, limit=2, pretrained=False)
    out, stopped = vc.compress_cached(config, root, progress=stop_at_first_file, cancel=cancel)
    assert log[0] == "[1/2] fp32.pt: building" and log[-1] == "stopped: int8.pt left out"
    assert [(f.file, f.gate) for f in stopped.files] == [("fp32.pt", "pass")] and stopped.left_out == ["int8.pt"]
    before = _rss_mb()

    log.clear()
    again, finished = vc.compress_cached(config, root, progress=log.append)
    assert again == out and log[0] == "[1/1] int8.pt: building"
    assert [(f.file, f.status, f.gate) for f in finished.files] == [(f, "ok", "pass") for f in FILES]
    assert finished.files[0] == stopped.files[0] and read_manifest(out).left_out == []
    assert _rss_mb() - before < 10  # built in this process, int8.pt would keep about 28 MB here
    assert all(f.latency_ms for f in finished.files)  # timed in the child
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(torch.jit.load(str(out / "fp32.pt"))(x), get_classifier(MODEL, False).module(x),
                                   atol=1e-4, rtol=0)


@pytest.mark.slow
def test_a_failure_in_the_child_is_the_same_sentence(tmp_path, apart):
    (tmp_path / "images" / "not-a-class").mkdir(parents=True)
    config = vc.CompressConfig(MODEL, tmp_path, ("fp32.pt",), eval_data=tmp_path / "images", pretrained=False)
    with pytest.raises(vc.ConfigError) as in_child:
        vc.compress_cached(config, tmp_path / "builds")
    vc.build_apart(False)
    with pytest.raises(vc.ConfigError) as here:
        vc.compress_cached(config, tmp_path / "builds")
    assert str(in_child.value) == str(here.value) and str(here.value).endswith("images holds no images")
    assert list((tmp_path / "builds").glob("*/*.pt")) == []
