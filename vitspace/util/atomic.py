"""Files that appear whole or not at all: written under a temporary name, then renamed onto the target."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["staged", "staged_files", "write_text", "write_bytes", "TMP_PREFIX"]

TMP_PREFIX = ".tmp-"    # staging folders beside the target, gone when the write ends


@contextmanager
def staged(path: str | Path):
    """A path of the same name in a private folder beside `path`, moved onto it when the block succeeds.

    The same name, because TorchScript names the archive inside a file after it; a private folder, so
    concurrent writers of one target never share a temporary file.
    """
    path = Path(path)
    with staged_files(path.parent, [path.name]) as folder:
        yield folder / path.name


@contextmanager
def staged_files(folder: str | Path, names: list[str]):
    """A private folder inside `folder`; the files named are moved from it into `folder` when the block
    succeeds (a file written with companions, such as a model and its weights)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=TMP_PREFIX) as tmp:
        yield Path(tmp)
        for name in names:
            os.replace(Path(tmp) / name, folder / name)


def write_text(path: str | Path, text: str) -> None:
    """Write text at `path` atomically: readers see the old file or the whole new one."""
    with staged(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes at `path` atomically: readers see the old file or the whole new one."""
    with staged(path) as tmp:
        tmp.write_bytes(data)
