import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """`python app.py` launched as users launch it, offline, on a free port; its log is kept for asserts."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", VITSPACE_BUILDS=str(tmp_path_factory.mktemp("builds")))
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"app did not start:\n{log_path.read_text()}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    app_url.log = log_path.read_text()


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """A tiny architecture-only compress build: one int8 .ptl of deit-tiny-cifar10 (3 MB), fidelity on 2 images."""
    import torch
    from vitspace.compress import CompressConfig, compress
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: one thread is faster than two that wait on each other
    out = tmp_path_factory.mktemp("build")
    try:
        compress(CompressConfig("deit-tiny-cifar10", out, formats=("int8-mobile.ptl",), limit=2, pretrained=False))
    finally:
        torch.set_num_threads(threads)
    return out
