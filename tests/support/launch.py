"""Launch `python app.py` as a user does: their own HOME, no vitspace or Hub overrides, a free port."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from . import ROOT

# Gradio serves what lies under the temp dir and the working dir: a HOME there would hide files it refuses to serve
USER_ROOT = Path("/var/tmp")
_DROPPED = ("VITSPACE_", "HF_", "XDG_", "GRADIO_", "TORCHINDUCTOR_", "PYTEST_")


def fresh_home(name: str = "home") -> Path:
    home = Path(tempfile.mkdtemp(prefix=f"vitspace-{name}-", dir=USER_ROOT))
    assert not str(home).startswith(tempfile.gettempdir())
    return home


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with this HOME: offline (HF_HUB_OFFLINE=0 in EXTRA for a local fake Hub), none
    of the test run's vitspace, Hub or Gradio settings; EXTRA added last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    env.update({"HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running(NamedTuple):
    url: str
    log: Path
    pid: int


@contextmanager
def running_app(home: Path, cwd: Path = ROOT, app: Path = ROOT / "app.py", timeout: float = 180, **env: str):
    """Yields the url, log path and process id of `python APP` started in CWD; stops it afterwards."""
    port = _free_port()
    log_path = home.parent / f"{home.name}-app.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(app)], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                env=user_env(home, GRADIO_SERVER_PORT=str(port), **env))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"app did not start:\n{log_path.read_text()}") from None
                time.sleep(0.5)
        yield Running(url, log_path, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def remove(*paths: Path) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
