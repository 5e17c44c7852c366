"""Where vitspace keeps what it makes: one definition of each folder."""
import os
from pathlib import Path

__all__ = ["cache_dir", "builds_root"]


def cache_dir() -> Path:
    """$VITSPACE_CACHE, else ~/.cache/vitspace (decoded data sets, builds)."""
    root = Path(os.environ.get("VITSPACE_CACHE") or Path.home() / ".cache" / "vitspace")
    root.mkdir(parents=True, exist_ok=True)
    return root


def builds_root() -> Path:
    """Where cached builds and benchmark runs live, and all the app serves: $VITSPACE_BUILDS, else CACHE/builds."""
    return Path(os.environ.get("VITSPACE_BUILDS") or cache_dir() / "builds")
