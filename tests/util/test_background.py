"""A background child (the runtime exports' `python -m vitspace.explain --runtime-files`) ends with the app that
started it, even when the app was killed before the child asked to be signalled (kill -9 while it imported torch):
no export lives on after the app."""
import os
import subprocess
import sys
import time

import pytest

CHILD = """
import os, sys, time
from pathlib import Path
here = Path(sys.argv[1])
while not (here / "go").exists():  # the app is gone by now: its end can no longer send a signal
    time.sleep(0.05)
from vitspace.util.background import as_background_child
as_background_child()
(here / "alive").write_text("still running after its app ended")
time.sleep(120)
"""
APP = """
import subprocess, sys
from vitspace.util.background import child_env
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # our pipe closes
print(subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=child_env(), **quiet).pid, flush=True)
"""


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


@pytest.mark.skipif(sys.platform != "linux", reason="the parent's end is signalled on Linux (prctl)")
def test_a_child_whose_app_ended_before_it_asked_for_the_signal_ends_at_once(tmp_path):
    app = subprocess.run([sys.executable, "-c", APP, CHILD, str(tmp_path)], capture_output=True, text=True,
                         check=True)
    child = int(app.stdout.strip())
    (tmp_path / "go").touch()
    deadline = time.monotonic() + 300  # a guard: the child imports vitspace (torch) first
    while _running(child) and not (tmp_path / "alive").exists():
        assert time.monotonic() < deadline, "the child neither ended nor went on"
        time.sleep(0.1)
    try:
        assert not (tmp_path / "alive").exists(), "the export outlived its app"
    finally:
        if _running(child):
            os.kill(child, 9)
