"""A child process that does background work for the app: it gives way to the app, and ends with it."""
import ctypes
import os
import signal
from pathlib import Path

__all__ = ["as_background_child", "child_env", "PARENT_ENV"]

_PR_SET_PDEATHSIG = 1   # prctl(2): the signal this process gets when its parent ends
PARENT_ENV = "VITSPACE_PARENT_PID"  # the process that started a background child, which ends with it


def child_env() -> dict[str, str]:
    """The environment of a background child of this process: this one's, which process it ends with, and where
    vitspace is (`python -m vitspace...` finds it whatever the folder the app was started from)."""
    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, PARENT_ENV: str(os.getpid()), "PYTHONPATH": path}


def as_background_child(niceness: int = 10) -> None:
    """Lower this process's priority, and (Linux) have it terminated when the process that started it ends,
    so a stopped app leaves no export running. A parent that ended before this call (killed while the child was
    still importing torch) cannot send the signal: then this process ends at once.

    Raises:
        SystemExit: the parent named by child_env() has ended already.
    """
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # not POSIX, or not allowed
        pass
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (AttributeError, OSError):  # not Linux
        pass
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):  # after the prctl: an end from now on sends the signal
        raise SystemExit(f"the process that started this one ({parent}) has ended")
