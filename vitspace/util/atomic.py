"""Files that appear whole or not at all: written under a temporary name, then renamed onto the target."""
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

__all__ = ["staged", "staged_files", "write_text", "write_bytes", "through_memory", "TMP_PREFIX"]

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


def through_memory(path: str | Path, save: Callable[[io.BytesIO], object]) -> None:
    """save(buffer), then the buffer written at `path` by Python. For torch's native file writers (torch.jit's,
    torch.export's): when the disk fills under them they end the whole process (a C++ exception thrown while one
    unwinds: std::terminate), where Python's write raises OSError (ENOSPC), which a build turns into a sentence. A
    TorchScript file written so names its archive "archive" instead of after the file."""
    buffer = io.BytesIO()
    save(buffer)
    Path(path).write_bytes(buffer.getbuffer())
