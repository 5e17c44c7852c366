"""Content hashes of files and cache keys of configurations."""
import hashlib
import json
from pathlib import Path

__all__ = ["file_digest", "config_key", "stat_identity"]


def file_digest(path: str | Path, algo: str = "sha256", prefix: bytes = b"") -> str:
    h = hashlib.new(algo, prefix)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def config_key(parts, length: int = 16) -> str:
    """A short hash of JSON-able parts (paths and other objects by their str)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:length]


def stat_identity(path: Path) -> str:
    """A file's identity without reading it: resolved path, size and modification time."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
