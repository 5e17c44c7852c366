"""vitspace.compress.build on deit-tiny-cifar10 with random weights (32x32 inputs, a few images).

One module-scoped build of every variant is shared; each file is reloaded in its own runtime and must
reproduce the numbers the manifest recorded for it.
"""
import dataclasses
import hashlib
import json
import platform
from pathlib import Path

import pytest
import torch
from support import FIXTURES

import vitspace.compress.build as vc
from vitspace import export
from vitspace.classify.classifier import get_classifier
from vitspace.compress import __main__ as compress_cli
from vitspace.compress import fidelity
from vitspace.compress.__main__ import main as compress_main
from vitspace.compress.fastpath import fast_classifier
from vitspace.compress.manifest import MANIFEST, Manifest
from vitspace.export import executorch as et
from vitspace.export import torchscript as ts
from vitspace.util import atomic

MODEL = "deit-tiny-cifar10"
EVAL_DATA = FIXTURES / "cifar10-test"
LIMIT = 6
FP32 = ["fp32.pt", "model.pte", "model.onnx"]
FILES = export.default_files()  # token merging's files, built only on request, are built in models/test_tome.py


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread while these tests run: on a busy 2-core machine a 2-thread team waits on
    preempted threads, and TorchScript ran 100x slower (0.5 s instead of 5 ms a forward)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("compress")
    config = vc.CompressConfig(MODEL, out, tuple(FILES), eval_data=EVAL_DATA, limit=LIMIT,
                               calibration_images=3, pretrained=False)
    messages = []
    manifest = vc.compress(get_classifier(MODEL, False), config, progress=messages.append)
    return config, manifest, json.loads((out / MANIFEST).read_text()), messages


@pytest.fixture(scope="module")
def pixels():
    """The fidelity images as compress picks them, preprocessed one by one: each (1, 3, 32, 32)."""
    clf = get_classifier(MODEL, pretrained=False)
    images = fidelity.folder_images(EVAL_DATA, clf.labels, clf.name, LIMIT)
    return [clf.preprocess([im]) for im in images.images], images.targets


def _leftovers(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith(atomic.TMP_PREFIX) or ".tmp" in p.name]


def _eager(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return get_classifier(MODEL, pretrained=False).module(x)


@pytest.mark.slow  # the full build
def test_every_default_file_builds_and_nothing_else_is_left(built):
    config, manifest, _, messages = built
    assert [f.file for f in manifest.files] == list(FILES)
    assert not manifest.failed, {f.file: f.reason for f in manifest.files if f.reason}
    files = [f for v in map(export.VARIANTS.get, FILES) if not export.missing_packages(v) for f in v.files]
    assert sorted(p.name for p in config.out.iterdir()) == sorted([*files, MANIFEST])
    assert not _leftovers(config.out)
    n = len(FILES)
    assert f"[1/{n}] fp32.pt: building" in messages  # each file's place, and the time left once one is built
    assert any(m.startswith(f"[{n}/{n}] ") and ": building, about " in m and m.endswith(" left") for m in messages)


@pytest.mark.slow  # the full build
def test_manifest_schema_sizes_and_hashes(built):
    config, manifest, data, _ = built
    assert data == manifest.to_dict()
    assert data["model"] == MODEL and data["pretrained"] is False and data["origin"] == "random"
    assert data["engine"] == export.pick_engine("auto") and data["build_key"] == vc.build_key(config)
    assert {"torch", "executorch", "onnxruntime"} <= {k for k, v in data["versions"].items() if v}
    assert data["input_shape"] == [1, 3, 32, 32]
    assert data["images"]["count"] == LIMIT and data["images"]["calibration"] == 3
    assert 0 <= data["eager_accuracy"] <= 1
    for entry in data["files"]:
        path, variant = config.out / entry["file"], export.VARIANTS[entry["file"]]
        assert (entry["format"], entry["runtime"], entry["precision"]) == \
            (variant.format, variant.runtime, variant.precision)
        assert entry["status"] == "ok" and entry["reason"] is None
        assert entry["size_bytes"] == sum((config.out / f).stat().st_size for f in variant.files)
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["passes"] and all(isinstance(p, str) for p in entry["passes"])
        fid = entry["fidelity"]
        assert fid["images"] == LIMIT and 0 <= fid["top1_agreement"] <= 1 and 0 <= fid["accuracy"] <= 1
        assert 0 <= fid["mean_abs_logit_diff"] <= fid["max_abs_logit_diff"]
        assert 0 <= fid["max_rel_logit_diff"] < 1


@pytest.mark.slow  # the full build
@pytest.mark.parametrize("file", FILES)
def test_file_reproduces_its_manifest_numbers_in_its_own_runtime(built, pixels, file):
    config, manifest, _, _ = built
    images, targets = pixels
    recorded = next(f for f in manifest.files if f.file == file).fidelity
    with export.quantized_engine(manifest.engine), torch.no_grad():
        run = export.VARIANTS[file].load(config.out / file)
        logits = torch.cat([run(x).reshape(1, -1) for x in images])
    eager = torch.cat([_eager(x) for x in images])
    agreement = (logits.argmax(1) == eager.argmax(1)).float().mean().item()
    accuracy = (logits.argmax(1) == torch.tensor(targets)).float().mean().item()
    assert (agreement, accuracy) == pytest.approx((recorded.top1_agreement, recorded.accuracy))
    assert (logits - eager).abs().max().item() == pytest.approx(recorded.max_abs_logit_diff, rel=0.05, abs=1e-5)


@pytest.mark.slow  # the full build
@pytest.mark.parametrize("file", FP32)
def test_fp32_variants_match_eager(built, pixels, file):
    config, manifest, _, _ = built
    x = pixels[0][0]
    out = export.VARIANTS[file].load(config.out / file)(x)
    eager = _eager(x)
    assert (out - eager).abs().max() <= 1e-4 * eager.abs().max()
    assert next(f for f in manifest.files if f.file == file).fidelity.max_rel_logit_diff <= 1e-4
    assert next(f for f in manifest.files if f.file == file).fidelity.top1_agreement == 1.0


@pytest.mark.slow  # the full build
def test_int8_files_are_smaller(built):
    _, manifest, _, _ = built
    size = {f.file: f.size_bytes for f in manifest.files}
    for int8, fp32 in [("int8.pt", "fp32.pt"), ("int8-mobile.ptl", "fp32.pt"), ("model-int8.pte", "model.pte"),
                       ("model-int8.onnx", "model.onnx")]:
        assert size[int8] < 0.4 * size[fp32], (int8, size)


@pytest.mark.slow  # the full build
def test_mobile_passes_are_recorded(built):
    _, manifest, _, _ = built
    mobile = next(f for f in manifest.files if f.file == "int8-mobile.pt")
    lite = next(f for f in manifest.files if f.file == "int8-mobile.ptl")
    if ts.xnnpack_enabled():
        assert "torch.utils.mobile_optimizer.optimize_for_mobile" in mobile.passes
    else:
        assert mobile.passes == ts.INT8_TRACE + list(ts.PORTABLE_PASSES)
        assert any(n.startswith("optimize_for_mobile unavailable") and "XNNPACK" in n for n in mobile.notes)
    assert lite.passes == mobile.passes + ["_save_for_lite_interpreter"]
    assert any(n.startswith("lite interpreter bytecode version") for n in lite.notes)
    pte = next(f for f in manifest.files if f.file == "model-int8.pte")
    assert "calibrate on 3 images" in pte.passes and "to_edge_transform_and_lower(XnnpackPartitioner)" in pte.passes


def test_without_xnnpack_the_portable_passes_run_and_the_lite_file_loads(monkeypatch, tmp_path):
    monkeypatch.setattr(ts, "xnnpack_enabled", lambda: False)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Dropout(), torch.nn.Linear(8, 3))
    x = torch.randn(1, 8)
    with export.quantized_engine(export.pick_engine()):
        script = ts.to_torchscript(ts.quantize_int8(model.eval()), example=x, freeze=False)
        module, passes, notes = ts.to_mobile(script)
        ts.to_lite(module, tmp_path / "m.ptl")
        out = export.VARIANTS["int8-mobile.ptl"].load(tmp_path / "m.ptl")(x)
    assert passes == list(ts.PORTABLE_PASSES)
    assert "optimize_for_mobile unavailable" in notes[0]
    torch.testing.assert_close(out, module(x))


@pytest.mark.slow
def test_pt2e_dynamic_needs_no_calibration(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 4)).eval()
    x = torch.randn(1, 4, 16)  # (B, tokens, dim) as in a ViT
    quantized = et.quantize_pt2e(model, example=x, calibration=[], dynamic=True)
    (tmp_path / "m.pte").write_bytes(et.to_executorch(quantized, example=x))
    out = export.VARIANTS["model-int8.pte"].load(tmp_path / "m.pte")(x)
    torch.testing.assert_close(out, model(x), atol=0.05, rtol=0.05)
    with pytest.raises(ValueError, match="calibration"):
        et.quantize_pt2e(model, example=x, calibration=[])


def test_engine_choice(monkeypatch):
    engines = type(torch.backends.quantized)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert export.pick_engine() == "x86" and export.pick_engine("auto") != "qnnpack"
    monkeypatch.setattr(engines, "supported_engines", property(lambda self: ["qnnpack", "onednn", "fbgemm"]))
    assert export.pick_engine() == "onednn"
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert export.pick_engine() == "qnnpack"
    with pytest.raises(ValueError, match="not in this torch build"):
        export.pick_engine("x86")


def test_forced_engine_is_recorded_and_restored(tmp_path):
    before = torch.backends.quantized.engine
    config = vc.CompressConfig(MODEL, tmp_path, files=("int8.pt",), engine="fbgemm", pretrained=False)
    manifest = vc.compress(get_classifier(MODEL, False), config)
    assert torch.backends.quantized.engine == before
    assert manifest.engine == "fbgemm" and json.loads((tmp_path / MANIFEST).read_text())["engine"] == "fbgemm"
    (entry,) = manifest.files
    assert entry.status == "ok" and "quantized engine fbgemm" in entry.notes
    # without --eval-data: the repository's examples, no accuracy
    assert manifest.images["source"] == "examples" and manifest.images["count"] == 10
    assert entry.fidelity.accuracy is None and manifest.eager_accuracy is None


def test_without_examples_folder_synthetic_images(monkeypatch, tmp_path):
    monkeypatch.setattr(fidelity, "EXAMPLES_DIR", tmp_path / "missing")
    images = fidelity.example_images(5)
    assert images.source == "synthetic" and images.targets is None
    assert len(images.images) == 5 and all(im.mode == "RGB" for im in images.images)


def test_a_failing_variant_is_recorded_and_the_others_build(monkeypatch, tmp_path):
    def boom(ctx, path):
        path.write_bytes(b"half a file")
        raise RuntimeError("boom: exporter exploded\n  in stage 2\nthe cause: no kernel for Softmax")
    monkeypatch.setitem(export.VARIANTS, "model.onnx", dataclasses.replace(export.VARIANTS["model.onnx"], build=boom))
    (tmp_path / "model.onnx").write_bytes(b"stale file from an earlier build")
    config = vc.CompressConfig(MODEL, tmp_path, files=("model.onnx", "fp32.pt"), pretrained=False)
    manifest = vc.compress(get_classifier(MODEL, False), config)
    failed, ok = manifest.files
    assert manifest.failed == ["model.onnx"]
    # the first line and the last, where runtimes such as OpenVINO put the cause
    assert failed.status == "failed" and failed.reason == \
        "RuntimeError: boom: exporter exploded ... the cause: no kernel for Softmax"
    assert failed.size_bytes is None and failed.sha256 is None and failed.fidelity is None
    assert ok.status == "ok" and (tmp_path / "fp32.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp32.pt", MANIFEST]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "int8.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.staged(target) as tmp:
        tmp.write_bytes(b"new, half")
        raise RuntimeError
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    with atomic.staged(target) as tmp:
        tmp.write_bytes(b"new")
        assert target.read_bytes() != b"new"  # not visible before the block ends
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]


def test_build_key_follows_the_options(tmp_path):
    config = vc.CompressConfig(MODEL, tmp_path, files=("fp32.pt", "int8.pt"), pretrained=False)
    key = vc.build_key(config)
    assert key == vc.build_key(dataclasses.replace(config, files=("int8.pt", "fp32.pt"), out=tmp_path / "x"))
    assert key != vc.build_key(dataclasses.replace(config, files=("fp32.pt",)))
    assert key != vc.build_key(dataclasses.replace(config, engine="fbgemm"))
    assert key != vc.build_key(dataclasses.replace(config, pte_int8="dynamic"))
    assert key != vc.build_key(dataclasses.replace(config, pretrained=True))


@pytest.mark.slow  # the full build
@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated upstream
@pytest.mark.parametrize("file", FILES)
def test_usage_snippet_runs(built, monkeypatch, file):
    config, manifest, _, _ = built
    snippet = export.usage_snippet(file, input_size=32)
    assert f'"{file}"' in snippet
    if file.endswith(".ptl"):
        assert "LiteModuleLoader.load" in snippet
        return
    monkeypatch.chdir(config.out)
    scope = {}
    with export.quantized_engine(manifest.engine):
        exec(compile(snippet, file, "exec"), scope)
    assert scope["logits"].shape == (1, 10)


def test_cli(tmp_path, capsys):
    rc = compress_main(["--model", MODEL, "--random-weights", "--out", str(tmp_path), "--files", "fp32.pt", "--json"])
    out = capsys.readouterr().out
    assert rc == 0 and json.loads(out) == json.loads((tmp_path / MANIFEST).read_text())
    assert [f["file"] for f in json.loads(out)["files"]] == ["fp32.pt"]
    assert compress_main(["--model", "vit-huge", "--out", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert compress_main(["--model", MODEL, "--out", str(tmp_path / "x"), "--eval-data", str(tmp_path / "none")]) == 2
    assert "data folder not found" in capsys.readouterr().err


def test_cli_takes_the_old_formats_flag_without_showing_it(tmp_path, capsys, monkeypatch):
    class Built(Exception):
        pass

    def compress(clf, config, progress=None):  # stops before building: only the parsed files matter here
        raise Built(config.files)
    monkeypatch.setattr(compress_cli, "compress", compress)
    with pytest.raises(Built) as built:
        compress_main(["--model", MODEL, "--random-weights", "--out", str(tmp_path), "--formats", "int8.pt"])
    assert built.value.args == (("int8.pt",),)
    with pytest.raises(SystemExit):
        compress_main(["--help"])
    help_text = capsys.readouterr().out
    assert "--files" in help_text and "--formats" not in help_text


def test_manifests_saved_before_the_rename_still_load(tmp_path):
    config = vc.CompressConfig(MODEL, tmp_path, files=("fp32.pt",), limit=2, pretrained=False)
    manifest = vc.compress(get_classifier(MODEL, False), config)
    data = manifest.to_dict()
    assert data["gate_thresholds"] == {"min_agreement": vc.GATE_AGREEMENT} and "gate" not in data
    data["gate"] = data.pop("gate_thresholds")  # as saved before
    old = Manifest.from_dict(data)
    assert old.gate_thresholds == manifest.gate_thresholds and old.files[0].gate == manifest.files[0].gate == "pass"


def test_cached_builds_are_reused_and_built_once_under_concurrency(monkeypatch, tmp_path):
    import threading
    import time
    calls = []
    real = vc.compress

    def counting(clf, config, progress=None, **kw):
        calls.append(config.out)
        time.sleep(0.3)  # widen the race window
        return real(clf, config, progress, **kw)

    monkeypatch.setattr(vc, "compress", counting)
    config = vc.CompressConfig(MODEL, tmp_path / "ignored", files=("int8-mobile.ptl",), limit=2, pretrained=False)
    results = []
    threads = [threading.Thread(target=lambda: results.append(vc.compress_cached(config, tmp_path / "builds")))
               for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len({out for out, _ in results}) == 1
    out, manifest = vc.compress_cached(config, tmp_path / "builds")  # later: read back, not rebuilt
    assert len(calls) == 1 and manifest.to_dict() == results[0][1].to_dict()
    assert out.name == vc.build_key(config) and not (tmp_path / "ignored").exists()
    import zipfile
    with zipfile.ZipFile(vc.zip_build(out)) as z:
        assert sorted(z.namelist()) == ["int8-mobile.ptl", "manifest.json"]
        assert z.read("int8-mobile.ptl") == (out / "int8-mobile.ptl").read_bytes()
    rows = manifest.rows()
    assert rows[0]["file"] == "int8-mobile.ptl" and rows[0]["status"] == "ok" and rows[0]["size_mb"] > 0


@pytest.mark.slow
def test_fast_path_classifies_like_the_eager_model(tmp_path, monkeypatch):
    """Classify's fast option: the faster passing candidate (int8 x86 program, int8 TorchScript), both built and
    timed in one build in the builds folder, once."""
    from vitspace.data.folders import list_image_folder
    monkeypatch.setenv("VITSPACE_BUILDS", str(tmp_path))
    eager, fast = get_classifier(MODEL), fast_classifier(MODEL)
    assert fast.name == f"{MODEL} [fast]" and fast_classifier(MODEL) is fast
    assert len(list(tmp_path.glob(f"*/{MANIFEST}"))) == 1
    items, _ = list_image_folder(EVAL_DATA)
    paths = [p for p, _ in items[::50]]
    agree = sum(eager.predict(p).label == fast.predict(p).label for p in paths) / len(paths)
    assert agree >= 0.9, agree
