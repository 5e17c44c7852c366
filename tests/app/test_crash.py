"""`kill -9` of the app in the middle of a build, then the app started again on the same HOME: nothing of the
killed build passes for a finished one, the restart removes it, and the same build then builds whole."""
import json
import os
import signal
import time

import pytest
from gradio_client import Client
from support.launch import fresh_home, remove, running_app

from vitspace.compress import cache
from vitspace.compress.manifest import MANIFEST

MODEL = "deit-tiny-cifar10"
FILES = ["fp32.pt", "int8.pt", "int8-mobile.ptl", "model.onnx", "model-int8.onnx"]


def _wait_for(found, what: str, timeout: float = 900):
    """found()'s first true value, looked for every 0.1 s; fails after `timeout` seconds (a guard, not a measure)."""
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)
    return value


@pytest.mark.slow
def test_a_build_killed_mid_way_is_not_taken_for_finished_and_a_restart_removes_it():
    home = fresh_home("crash")
    builds = home / ".cache" / "vitspace" / "builds"
    try:
        with running_app(home) as first:
            Client(first.url, verbose=False).submit(MODEL, FILES, "auto", True, api_name="/compress")
            built = _wait_for(lambda: next(builds.glob("*/fp32.pt"), None), "the build's first file in place")
            os.kill(first.pid, signal.SIGKILL)
            os.waitid(os.P_PID, first.pid, os.WEXITED | os.WNOWAIT)  # dead, its lock let go
        half = built.parent
        assert not (half / MANIFEST).exists(), "the build finished before the kill: nothing to test"
        assert (half / "fp32.pt").exists() and not cache.finished(half)  # the marker is what readers look for

        with running_app(home) as second:
            assert not half.exists(), "the restart removes the killed build"
            rows, *_ = Client(second.url, verbose=False).predict(MODEL, FILES, "auto", True, api_name="/compress")
            log = second.log.read_text()
        manifest = json.loads((half / MANIFEST).read_text())  # the same build, built whole in the same folder
        assert [(f["file"], f["status"]) for f in manifest["files"]] == [(f, "ok") for f in FILES]
        assert manifest["left_out"] == [] and len(rows["data"]) == len(FILES)
        assert "Traceback" not in log
    finally:
        remove(home, home.parent / f"{home.name}-app.log")
