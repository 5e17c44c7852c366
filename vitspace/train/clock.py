"""PauseClock: the time a run took, less what it spent paused, so that its log gives its own speed."""
import os
import signal
import threading
import time

__all__ = ["PauseClock"]


class PauseClock:
    """perf_counter minus the time the process spent paused by `kill -TSTP PID` (resume with
    `kill -CONT PID`): a run paused to free the CPU for something else still logs its own time."""

    def __init__(self):
        self.paused, self._since = 0.0, None
        if hasattr(signal, "SIGTSTP") and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTSTP, self._stop)
            signal.signal(signal.SIGCONT, self._resume)

    def _stop(self, *_):
        self._since = time.perf_counter()
        os.kill(os.getpid(), signal.SIGSTOP)

    def _resume(self, *_):
        if self._since is not None:
            self.paused += time.perf_counter() - self._since
            self._since = None

    def __call__(self) -> float:
        return time.perf_counter() - self.paused
