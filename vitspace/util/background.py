"""A child process that does background work for the app: it gives way to the app, and ends with it."""
import ctypes
import os
import signal

__all__ = ["as_background_child"]

_PR_SET_PDEATHSIG = 1   # prctl(2): the signal this process gets when its parent ends


def as_background_child(niceness: int = 10) -> None:
    """Lower this process's priority, and (Linux) have it terminated when the process that started it ends,
    so a stopped app leaves no export running."""
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # not POSIX, or not allowed
        pass
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (AttributeError, OSError):  # not Linux
        pass
