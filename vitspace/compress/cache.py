"""The build root's disk budget: a size limit ($VITSPACE_BUILDS_MAX_GB), what is used, room made for a new build by
removing the least recently used builds first (never one in use or being built), and the folders a crash left
half-built removed (`sweep`).

The root's entries are its builds and benchmark runs, and the models' runtime folders of Classify
(ROOT/runtime/<key>, explain.choice). A folder is finished when its marker is there (a build's manifest.json, a
benchmark run's bench.json, a runtime folder's choice*.json), written last. While a folder is built its builder holds
the folder's lock, <parent>/.locks/<name> (flock: the kernel lets go of it when the process ends, even by kill -9),
so another process can tell a build under way from a crashed one, and a second caller of one build waits for it
instead of building it again. A folder's last use is the mtime of its `.used` file, touched when a build is made,
reused or served, or a model's runtime is loaded.
"""
import errno
import fcntl
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import CacheLimitError, ConfigError
from ..export import VARIANTS
from ..util.atomic import TMP_PREFIX

__all__ = ["ENV", "DEFAULT_GB", "CacheUsage", "limit_bytes", "folder_bytes", "usage", "building", "using", "touch",
           "last_used", "finished", "evict", "make_room", "sweep", "estimate_bytes", "is_disk_full", "free_bytes",
           "size_text"]

ENV = "VITSPACE_BUILDS_MAX_GB"
DEFAULT_GB = 20.0           # a free Space has 50 GB of disk, shared with the Hub's cache of the models it runs
GB = 1e9
MARKERS = ("manifest.json", "bench.json")  # written last by compress and bench_cached (bench.run.RESULT)
RUNTIME = "runtime"         # Classify's exported runtimes (explain.choice), one folder per model under it
RUNTIME_MARKER = "choice*.json"  # written last there: the choice among all runtimes, or among those asked
LOCKS, USED = ".locks", ".used"
STALE_S = 3600              # a staging folder at the root this old was left by a crash, not by a write under way
# bytes a file takes per model parameter, by precision: int8 files keep fp32 scales, biases, norms and embeddings
BYTES_PER_PARAMETER = {"fp32": 4.0, "bf16": 2.0, "int8": 1.6}
_in_use: Counter[str] = Counter()
_guard = threading.Lock()


@dataclass(frozen=True)
class CacheUsage:
    """What the build root holds against its limit.

    Attributes:
        used_bytes: every file under the root (Classify's runtime exports included).
        builds: finished builds and benchmark runs.
        in_use: folders served, read or built right now by this process, or built by another.
    """
    root: Path
    limit_bytes: int
    used_bytes: int
    builds: int
    in_use: int

    def line(self) -> str:
        """One sentence for the page: use against the limit, and how to change the limit."""
        busy = f", {self.in_use} in use" if self.in_use else ""
        return (f"Build cache: {size_text(self.used_bytes)} of {size_text(self.limit_bytes)} used "
                f"({self.builds} builds{busy}). The least recently used builds are removed first to make room; "
                f"the limit is set by {ENV}.")


def size_text(n: int) -> str:
    """Bytes in words: "1.2 GB", "340 MB"."""
    return f"{n / GB:.3g} GB" if n >= GB else f"{n / 1e6:.3g} MB"


def limit_bytes() -> int:
    """The build root's size limit: $VITSPACE_BUILDS_MAX_GB gigabytes, else DEFAULT_GB.

    Raises:
        ConfigError: the variable is not a number above 0.
    """
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return int(DEFAULT_GB * GB)
    try:
        gb = float(raw)
    except ValueError:
        raise ConfigError(f"{ENV}={raw!r} is not a number of gigabytes (for example {ENV}=20)") from None
    if not gb > 0:
        raise ConfigError(f"{ENV} must be a number of gigabytes above 0, not {raw}")
    return int(gb * GB)


def folder_bytes(path: str | Path) -> int:
    """The size of every file under path (0 when it is gone)."""
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # removed meanwhile
                pass
    return total


def free_bytes(path: str | Path) -> int:
    """Free space on the disk that holds path, or its nearest existing parent."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _key(folder: str | Path) -> str:
    return str(Path(folder).resolve())


@contextmanager
def using(folder: str | Path) -> Iterator[None]:
    """Mark a folder in use by this process meanwhile: `evict` leaves it alone."""
    key = _key(folder)
    with _guard:
        _in_use[key] += 1
    try:
        yield
    finally:
        with _guard:
            _in_use[key] -= 1
            if not _in_use[key]:
                del _in_use[key]


def _lock_file(folder: Path):
    path = folder.parent / LOCKS / folder.name
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a")


@contextmanager
def building(folder: str | Path) -> Iterator[None]:
    """Hold the folder's build lock meanwhile, waiting while another thread or process holds it; the folder is in
    use meanwhile."""
    folder = Path(folder)
    with _lock_file(folder) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes, or the process dies
        with using(folder):
            yield


@contextmanager
def _idle(folder: Path) -> Iterator[bool]:
    """Whether the folder is idle (nobody builds it, this process does not use it), holding its lock meanwhile."""
    with _lock_file(folder) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        with _guard:
            idle = _key(folder) not in _in_use
        yield idle


def touch(folder: str | Path) -> None:
    """Record a use of a folder now (its `.used` mtime): the least recently used are removed first."""
    path, now = Path(folder) / USED, time.time_ns()  # to the ns: the kernel's own clock for mtimes ticks in ms
    try:
        path.touch()
        os.utime(path, ns=(now, now))
    except OSError:  # a full disk, or a folder removed meanwhile: this use goes unrecorded
        pass


def _markers(folder: Path) -> list[Path]:
    if folder.parent.name == RUNTIME:
        return sorted(folder.glob(RUNTIME_MARKER))
    return [folder / m for m in MARKERS if (folder / m).exists()]


def finished(folder: str | Path) -> bool:
    """Whether a folder holds its marker (written last): a finished build, benchmark run or runtime choice."""
    return bool(_markers(Path(folder)))


def last_used(folder: str | Path) -> int:
    """When a folder was last used, in ns since the epoch: its `.used` mtime, else its marker's, else its own."""
    for path in (Path(folder) / USED, *_markers(Path(folder)), Path(folder)):
        try:
            return path.stat().st_mtime_ns
        except OSError:
            continue
    return 0


def _folders(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")] if parent.is_dir() else []


def _entries(root: Path) -> list[Path]:
    """The root's builds, benchmark runs and models' runtime folders (ROOT/runtime/<key>), finished or not."""
    return [p for p in _folders(root) if p.name != RUNTIME] + _folders(root / RUNTIME)


def usage(root: str | Path) -> CacheUsage:
    """The root's size against the limit, its finished builds, and those in use."""
    root = Path(root)
    entries = [p for p in _entries(root) if p.parent.name != RUNTIME]
    with _guard:
        busy = set(_in_use)
    return CacheUsage(root, limit_bytes(), folder_bytes(root) if root.is_dir() else 0,
                      sum(finished(p) for p in entries), sum(_key(p) in busy for p in entries))


def _remove_if_idle(folder: Path) -> bool:
    with _idle(folder) as idle:
        if idle:
            shutil.rmtree(folder, ignore_errors=True)
        return idle


def evict(root: str | Path, need: int = 0, keep: Iterable[str | Path] = ()) -> list[Path]:
    """Remove half-builds, then the least recently used builds and benchmark runs, until the root and `need` more
    bytes fit under the limit; never one in use, being built, or in keep.

    Returns:
        The folders removed, in order.
    """
    root, limit = Path(root), limit_bytes()
    kept = {_key(k) for k in keep}
    used, removed = folder_bytes(root), []
    for folder in sorted(_entries(root), key=lambda p: (finished(p), last_used(p))):
        if used + need <= limit:
            break
        size = folder_bytes(folder)
        if _key(folder) not in kept and _remove_if_idle(folder):
            used -= size
            removed.append(folder)
    return removed


def make_room(root: str | Path, need: int, keep: Iterable[str | Path] = ()) -> list[Path]:
    """Room for a build of about `need` bytes: least recently used builds removed until it fits.

    Raises:
        CacheLimitError: it cannot fit: larger than the limit, or than what the builds in use leave, or than the
            disk's free space.
    """
    root, limit = Path(root), limit_bytes()
    if need > limit:
        raise CacheLimitError(f"This build needs about {size_text(need)}, more than the build cache's limit of "
                              f"{size_text(limit)}: build fewer files, or raise the limit ({ENV}).")
    removed = evict(root, need, keep)
    used = folder_bytes(root)
    if used + need > limit:
        raise CacheLimitError(f"This build needs about {size_text(need)}, and the build cache holds "
                              f"{size_text(used)} of its {size_text(limit)} in builds in use right now: try again "
                              f"when they are done, build fewer files, or raise the limit ({ENV}).")
    free = free_bytes(root)
    if need > free:
        raise CacheLimitError(f"The disk is full: this build needs about {size_text(need)} and the disk has "
                              f"{size_text(free)} free. Free some space, or lower {ENV} so that fewer builds are "
                              "kept.")
    return removed


def sweep(root: str | Path) -> list[Path]:
    """Remove what a crash left: folders without their marker that nobody builds, staging folders inside finished
    ones and, at the root, those over an hour old. What a process starting on the root calls first.

    Returns:
        The half-built folders removed.
    """
    root = Path(root)
    removed = []
    for folder in _entries(root):
        if not finished(folder):
            if _remove_if_idle(folder):
                removed.append(folder)
            continue
        for tmp in folder.glob(f"{TMP_PREFIX}*"):
            with _idle(folder) as idle:
                if idle:
                    shutil.rmtree(tmp, ignore_errors=True)
    for tmp in root.glob(f"{TMP_PREFIX}*") if root.is_dir() else ():
        if time.time() - tmp.stat().st_mtime > STALE_S:
            shutil.rmtree(tmp, ignore_errors=True)
    return removed


def estimate_bytes(parameters: int, files: Iterable[str]) -> int:
    """About how much a build of `files` (export.VARIANTS) of a model with this many parameters writes."""
    return int(sum(parameters * BYTES_PER_PARAMETER.get(VARIANTS[f].precision, 4.0) for f in files) * 1.05)


def is_disk_full(e: BaseException, folder: str | Path, need: int = 0) -> bool:
    """Whether an error is a write that failed for lack of space: ENOSPC anywhere in its chain or its words, or a
    native writer's failed write (torch's says only that) with less than `need` bytes (64 MB at least) free."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    words = str(e).lower()
    return "write" in words and "fail" in words and free_bytes(folder) < max(need, 64_000_000)
