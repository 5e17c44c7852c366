"""Work done once per key: concurrent callers of one key wait for a single result; other keys go on."""
import threading
from pathlib import Path
from typing import Callable, Hashable, TypeVar

__all__ = ["KeyLocks", "Memo", "once_on_disk"]

T = TypeVar("T")


class KeyLocks:
    """One lock per key, made on first use."""

    def __init__(self):
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class Memo:
    """Values made once per key and kept for the life of the process."""

    def __init__(self):
        self._values: dict[Hashable, object] = {}
        self._locks = KeyLocks()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value of `key`, made with make() the first time; concurrent first callers of one key wait for one
        make(). A make() that raises keeps nothing, so the next call tries again."""
        if key in self._values:
            return self._values[key]
        with self._locks(key):
            if key not in self._values:
                self._values[key] = make()
        return self._values[key]


_disk = KeyLocks()


def once_on_disk(done: Path, load: Callable[[], T], make: Callable[[], T]) -> tuple[T, bool]:
    """(result, whether it was already made): load() when the marker file `done` exists, else make(),
    which must write `done` last. One make per marker, however many threads ask at once."""
    with _disk(str(Path(done).resolve())):
        if Path(done).exists():
            return load(), True
        return make(), False
