"""The build cache's budget (vitspace.compress.cache): under a small limit the least recently used builds are
removed first, never one in use or being built; a build that cannot fit says so before it starts; what a crash
left half-built is removed, and nothing else."""
import os
import signal
import subprocess
import sys

import pytest
import torch
from support import one_torch_thread

import vitspace.compress.build as vc
from vitspace.bench.run import RESULT
from vitspace.classify.classifier import get_classifier
from vitspace.compress import cache
from vitspace.compress.manifest import MANIFEST
from vitspace.errors import CacheLimitError, ConfigError

MODEL = "deit-tiny-cifar10"
MB = 1_000_000
pytest.fixture(autouse=True)(one_torch_thread)


def _limit(monkeypatch, n_bytes: int) -> None:
    monkeypatch.setenv(cache.ENV, repr(n_bytes / cache.GB))


def _folder(root, name: str, size: int = MB, used_at: int | None = None, marker: str | None = MANIFEST):
    """A build folder of `size` bytes: finished (its marker written) or not, last used at `used_at` (seconds)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"\0" * size)
    if marker:
        (folder / marker).write_text("{}")
    if used_at is not None:
        cache.touch(folder)
        os.utime(folder / cache.USED, (used_at, used_at))
    return folder


def _names(root) -> set[str]:
    return {p.name for p in root.iterdir() if not p.name.startswith(".")}


def test_the_least_recently_used_go_first_and_a_build_in_use_stays(tmp_path, monkeypatch):
    root = tmp_path / "builds"
    for i, name in enumerate(["a", "b", "c", "bench-d"]):  # a benchmark run is a folder of the cache too
        _folder(root, name, used_at=1_000 + i, marker=RESULT if name.startswith("bench-") else MANIFEST)
    _limit(monkeypatch, int(3.5 * MB))
    assert cache.evict(root) == [root / "a"]  # 4 MB under a 3.5 MB limit: the oldest goes
    assert _names(root) == {"b", "c", "bench-d"}
    cache.touch(root / "b")  # b served again: now the most recent
    assert cache.evict(root, need=MB) == [root / "c"]
    with cache.using(root / "bench-d"):  # bench-d is the least recently used, but in use
        assert cache.evict(root, need=2 * MB) == [root / "b"]
    assert _names(root) == {"bench-d"}
    usage = cache.usage(root)
    assert (usage.builds, usage.in_use, usage.limit_bytes) == (1, 0, int(3.5 * MB))
    assert usage.used_bytes >= MB and "1 builds" in usage.line() and cache.ENV in usage.line()


def test_models_runtime_folders_count_and_go_in_lru_order_with_the_builds(tmp_path, monkeypatch):
    """Classify's runtime exports (ROOT/runtime/<key>) are entries of the cache like the builds; one being exported
    (no choice yet) and held by its exporter stays."""
    root = tmp_path / "builds"
    _folder(root, "build-old", used_at=1_000)
    _folder(root / cache.RUNTIME, "model-a", used_at=1_001, marker="choice.json")
    _folder(root, "build-new", used_at=1_003)
    _folder(root / cache.RUNTIME, "model-b", used_at=1_002, marker="choice-onnxruntime.json")
    exporting = _folder(root / cache.RUNTIME, "model-c", marker=None)
    _limit(monkeypatch, int(2.5 * MB))
    assert cache.usage(root).builds == 2  # the page counts builds, while the runtimes' bytes count against the limit
    with cache.building(exporting):
        assert cache.evict(root) == [root / "build-old", root / cache.RUNTIME / "model-a",
                                     root / cache.RUNTIME / "model-b"]
    assert _names(root) == {"build-new", cache.RUNTIME} and _names(root / cache.RUNTIME) == {"model-c"}
    assert cache.sweep(root) == [exporting]  # a crash left it without its choice


def _hold_lock(folder) -> subprocess.Popen:
    """Another process that holds a folder's build lock, as a build under way there does."""
    code = ("import sys; from vitspace.compress import cache\n"
            "with cache.building(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_half_build_goes_first_unless_it_is_being_built_and_a_crash_lets_it_go(tmp_path, monkeypatch):
    root = tmp_path / "builds"
    _folder(root, "old", used_at=1_000)
    _folder(root, "crashed", marker=None)           # no marker, nobody building it: a crash's leftover
    building = _folder(root, "building", marker=None)
    (building / ".tmp-xyz").mkdir()                 # a file being written
    builder = _hold_lock(building)
    try:
        _limit(monkeypatch, int(2.5 * MB))
        assert cache.evict(root) == [root / "crashed"]  # the half-build, though newer than "old"
        assert cache.sweep(root) == [] and _names(root) == {"old", "building"}
        assert (building / ".tmp-xyz").is_dir()
        _limit(monkeypatch, MB // 2)
        assert cache.evict(root) == [root / "old"]  # the limit is not reached, but a build under way stays
        assert _names(root) == {"building"}
    finally:
        builder.send_signal(signal.SIGKILL)  # the builder dies mid-build: the kernel lets go of its lock
        builder.wait()
    assert cache.sweep(root) == [building] and _names(root) == set()


def test_a_finished_build_loses_only_its_staging_leftovers_to_a_sweep(tmp_path):
    root = tmp_path / "builds"
    done = _folder(root, "done")
    (done / ".tmp-abc").mkdir()
    (done / ".tmp-abc" / "fp32.pt").write_bytes(b"partial")
    assert cache.sweep(root) == []
    assert sorted(p.name for p in done.iterdir()) == [MANIFEST, "model.bin"]


def test_the_limit_is_a_number_of_gigabytes(monkeypatch):
    monkeypatch.delenv(cache.ENV, raising=False)
    assert cache.limit_bytes() == int(cache.DEFAULT_GB * cache.GB)
    monkeypatch.setenv(cache.ENV, "0.5")
    assert cache.limit_bytes() == 500 * MB
    for bad in ("lots", "0", "-2"):
        monkeypatch.setenv(cache.ENV, bad)
        with pytest.raises(ConfigError, match=cache.ENV):
            cache.limit_bytes()


def test_a_build_that_cannot_fit_says_so_before_it_starts(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the build started")
    monkeypatch.setattr(vc, "compress", never)
    _limit(monkeypatch, 5 * MB)  # fp32.pt of a 2.9 M-parameter model is about 12 MB
    config = vc.CompressConfig(MODEL, tmp_path, files=("fp32.pt",), limit=2, pretrained=False)
    with pytest.raises(CacheLimitError) as e:
        vc.compress_cached(config, tmp_path / "builds")
    assert str(e.value).startswith("This build needs about 12.") and "more than the build cache's limit of 5 MB" \
        in str(e.value) and cache.ENV in str(e.value)
    assert _names(tmp_path / "builds") == set()


def test_a_new_build_makes_room_by_removing_the_least_recently_used(tmp_path, monkeypatch):
    root, parameters = tmp_path / "builds", vc.parameters(get_classifier(MODEL, False).module)

    def build(files):
        out, manifest = vc.compress_cached(vc.CompressConfig(MODEL, tmp_path, files=files, limit=2, pretrained=False),
                                           root)
        written = sum(f.size_bytes for f in manifest.files)  # the estimate a build makes room for holds it
        assert written <= cache.estimate_bytes(parameters, files) <= 3 * written, (files, written)
        return out
    a, b = build(("int8-mobile.ptl",)), build(("int8.pt",))
    assert build(("int8-mobile.ptl",)) == a  # a reused: b is now the least recently used
    need = cache.estimate_bytes(parameters, ["fp32.pt"])
    _limit(monkeypatch, cache.folder_bytes(root) + need - 1)  # one of a and b has to go
    c = build(("fp32.pt",))
    assert sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) == sorted(
        [a.name, c.name])
    assert (a / MANIFEST).exists() and not b.exists() and cache.folder_bytes(root) <= cache.limit_bytes()
    x = torch.rand(1, 3, 32, 32)
    assert torch.jit.load(str(c / "fp32.pt"))(x).shape == (1, 10)
