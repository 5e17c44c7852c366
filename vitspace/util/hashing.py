"""Content hashes of files and cache keys of configurations."""
import hashlib
import json
from pathlib import Path

__all__ = ["file_digest", "config_key", "stat_identity"]


def file_digest(path: str | Path, algo: str = "sha256", prefix: bytes = b"") -> str:
    """A file's hex digest, read in 1 MiB chunks.

    Args:
        path: the file.
        algo: a hashlib algorithm name.
        prefix: bytes hashed before the file's (a git blob header, for git's sha1).
    """
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
