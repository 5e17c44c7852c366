"""How long the rest of a run of steps will take, from the steps done so far: for progress messages."""
import time
from typing import Callable

__all__ = ["Eta", "duration"]


def duration(seconds: float) -> str:
    """Seconds in words a progress line can show: "40 s", "3 min", "1 h 5 min"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class Eta:
    """Counts steps as they start and estimates the time left: the mean time of the steps done so far, times
    the steps not done yet (this one included)."""

    def __init__(self, total: int, clock: Callable[[], float] = time.perf_counter):
        self.total, self.done, self._clock = total, 0, clock
        self._start = clock()

    def next(self) -> str:
        """Mark the next step as started; returns its place, "[i/n]"."""
        self.done += 1
        return f"[{self.done}/{self.total}]"

    def left(self) -> str:
        """", about T left" for the step started last and those after it, once a step is done; "" before."""
        if self.done < 2:
            return ""
        seconds = (self._clock() - self._start) / (self.done - 1) * (self.total - self.done + 1)
        return f", about {duration(seconds)} left"
