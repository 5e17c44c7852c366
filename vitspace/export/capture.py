"""One graph capture at a time in this process.

torch's graph capture is not thread-safe: while `torch.export` traces on one thread it patches process-wide
state, and a `torch.jit.trace` running meanwhile on another thread fails its own check ("Graphs differed across
invocations"; measured with torch 2.14.1: about one trace in three fails while another thread exports). The app
captures on several threads at once (a visitor's build, another's, Classify's runtime choice in the background),
so every capture in vitspace (exporting, tracing, quantizing through an export, and the first call of a
torch.compile'd program) holds this lock. Eager forwards need not: they do not see the patches.
"""
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["capturing"]

_LOCK = threading.RLock()  # re-entrant: a capture may call a helper that captures


@contextmanager
def capturing() -> Iterator[None]:
    """Hold the process's graph-capture lock for the block (waits while another thread captures)."""
    with _LOCK:
        yield
