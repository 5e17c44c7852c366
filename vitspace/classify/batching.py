"""Concurrent callers share forward passes: what waits for the same model runs as one batch."""
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, TypeVar

__all__ = ["Batched", "Batcher"]

R = TypeVar("R")


@dataclass
class Batched(Generic[R]):
    """One item's result from a Batcher, with the batch it ran in."""
    output: R           # what run returned for this item
    ms: float           # the time of the whole batch it ran in
    size: int           # items in that batch


@dataclass
class Batcher:
    """Runs run(key, items) -> one result per item, for items submitted under the same key.

    Submitting an item queues a batch for its key on `schedule` (one worker thread); the batch takes every
    item of that key waiting when it starts, up to limit(key). A lone caller gets a batch of one at once;
    callers that arrive while the worker is busy share the next one. A batch that fails is run again item
    by item, so one item's failure reaches only its own caller.
    """
    run: Callable[[Hashable, list], list]
    schedule: Callable[..., object]             # e.g. a one-thread executor's submit
    limit: Callable[[Hashable], int]            # items per batch for a key
    _waiting: dict[Hashable, list[tuple[object, Future]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, key: Hashable, item) -> Future:
        """A future of the item's Batched output."""
        future = Future()
        with self._lock:
            waiting = self._waiting.setdefault(key, [])
            waiting.append((item, future))
            if len(waiting) == 1:
                self.schedule(self._next, key)
        return future

    def _next(self, key: Hashable) -> None:
        with self._lock:
            waiting = self._waiting.pop(key)
            batch, rest = waiting[:self.limit(key)], waiting[self.limit(key):]
            if rest:
                self._waiting[key] = rest
                self.schedule(self._next, key)
        self._settle(key, batch)

    def _settle(self, key: Hashable, batch: list[tuple[object, Future]]) -> None:
        t0 = time.perf_counter()
        try:
            results = self.run(key, [item for item, _ in batch])
            assert len(results) == len(batch), f"{len(results)} results for {len(batch)} items"
        except Exception as e:
            if len(batch) > 1:
                for one in batch:
                    self._settle(key, [one])
            else:
                batch[0][1].set_exception(e)
            return
        ms = round((time.perf_counter() - t0) * 1000, 2)
        for (_, future), result in zip(batch, results):
            future.set_result(Batched(result, ms, len(batch)))
