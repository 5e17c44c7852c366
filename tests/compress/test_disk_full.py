"""A disk that fills during a build: the build stops with a sentence that says so, its files are removed, the cache
holds no half-build, and the next build (with room again) works. Once with the fault injected at a file's write,
once on a small filesystem made for the test, where the machine lets the test mount one."""
import dataclasses
import errno
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest
from support import one_torch_thread

import vitspace.compress.build as vc
from vitspace import export
from vitspace.compress import cache
from vitspace.errors import DiskFullError

MODEL = "deit-tiny-cifar10"
FILES = ("fp32.pt", "int8.pt", "int8-mobile.ptl")
pytest.fixture(autouse=True)(one_torch_thread)


def _fills_the_disk(ctx, path):
    """int8.pt's build as a full disk has it: part of the file written, then ENOSPC."""
    with open(path, "wb") as f:
        f.write(b"\0" * 4096)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _files_left(root) -> list[str]:
    """Every file under the root but the locks and the fast path's record."""
    return [str(p) for p in root.rglob("*") if p.is_file() and cache.LOCKS not in p.parts and p.name != "fastest.json"]


def _config(tmp_path, files=FILES) -> vc.CompressConfig:
    return vc.CompressConfig(MODEL, tmp_path, files=files, limit=2, pretrained=False)


def test_a_full_disk_stops_the_build_with_a_sentence_and_leaves_no_half_build(tmp_path, monkeypatch):
    monkeypatch.setitem(export.VARIANTS, "int8.pt", dataclasses.replace(export.VARIANTS["int8.pt"],
                                                                         build=_fills_the_disk))
    root, log = tmp_path / "builds", []
    with pytest.raises(DiskFullError) as e:
        vc.compress_cached(_config(tmp_path), root, progress=log.append)
    assert str(e.value).startswith("The disk is full: writing int8.pt failed for lack of space (")
    assert "kept none of its files" in str(e.value) and cache.ENV in str(e.value)
    assert not any("int8-mobile.ptl" in m for m in log)  # it stopped there: the next file would fail alike
    assert _files_left(root) == [] and cache.usage(root).builds == 0
    monkeypatch.undo()  # room again
    out, manifest = vc.compress_cached(_config(tmp_path), root)
    assert [(f.file, f.status) for f in manifest.files] == [(f, "ok") for f in FILES]


@pytest.mark.slow
def test_the_app_says_the_disk_is_full_in_its_sentence(monkeypatch):
    import gradio as gr

    import app
    monkeypatch.setitem(export.VARIANTS, "int8.pt", dataclasses.replace(export.VARIANTS["int8.pt"],
                                                                         build=_fills_the_disk))
    with pytest.raises(gr.Error) as e:
        app.on_build(MODEL, list(FILES), "auto", True, SimpleNamespace(session_hash="visitor"),
                     progress=lambda *args, **kwargs: None)
    assert e.value.message.startswith("The disk is full: writing int8.pt") and e.value.title == \
        "Building the files failed"
    assert not (app.BUILDS / vc.build_key(vc.CompressConfig(MODEL, app.BUILDS, FILES, pretrained=False))).exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs, mounted for the test (root, and a machine that allows it); skipped elsewhere."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], capture_output=True,
                             text=True) if shutil.which("mount") else None
    if not mounted or mounted.returncode:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip() if mounted else 'no mount'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.mark.parametrize("apart", [False, True], ids=["in-process", "in-a-child"])
def test_on_a_small_disk_filled_meanwhile_the_build_stops_in_a_sentence_and_the_process_lives(tmp_path, small_disk,
                                                                                               apart, monkeypatch):
    """A real ENOSPC: torch's own writers would end the process here (atomic.through_memory); a build in a child
    process (the app's) says the same."""
    monkeypatch.setattr(vc, "_apart", apart)
    root, filler = small_disk / "builds", small_disk / "someone-else"

    def fill(message: str) -> None:  # another writer fills the disk while fp32.pt is measured
        if "int8.pt: building" in message:
            filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 500_000))
    files = ("fp32.pt", "int8.pt")
    with pytest.raises(DiskFullError, match="^The disk is full: writing int8.pt failed for lack of space"):
        vc.compress_cached(_config(tmp_path, files), root, progress=fill)
    assert _files_left(root) == []
    filler.unlink()
    out, manifest = vc.compress_cached(_config(tmp_path, files), root)
    assert [f.status for f in manifest.files] == ["ok", "ok"] and cache.folder_bytes(out) < 40_000_000
