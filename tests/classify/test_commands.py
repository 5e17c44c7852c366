"""The classify and evaluate command lines, run as a user would: subprocesses, offline, random weights.

Each launch costs seconds of imports, so one launch feeds several tests (module-scoped fixtures).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT
from support.hostile import HOSTILE, ODD

EXAMPLES = ROOT / "examples"
MODELS = ["vit-tiny-cifar10", "deit-tiny-cifar10"]
CIFAR10 = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
TOP_K = 3


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", f"vitspace.{module}", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr, proc.stderr[-3000:]


# --- classify ----------------------------------------------------------------------------------

GOOD = ["examples/cat.jpg", "examples/ship.jpg"]
BAD = ["truncated_jpeg", "zero_bytes", "text_as_jpg", "random_bytes_png", "decompression_bomb_png",
       "over_megapixel_limit", "png_text_bomb"]
ACCEPTED = ["cmyk_jpeg", "gray16_png", "animated_gif", "exif_rotated_6_jpeg", "rgba_transparent_png"]
UNKNOWN = "no-such-model"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Good, odd and hostile images through two models and one unknown model, --json."""
    d = tmp_path_factory.mktemp("mixed")
    bad = [str(HOSTILE[n](d)) for n in BAD] + [str(d / "missing.jpg")]
    odd = [str(ODD[n](d)) for n in ACCEPTED]
    images = [GOOD[0], *bad[:3], *odd, GOOD[1], *bad[3:]]
    models = [*MODELS, UNKNOWN]
    proc = run("classify", *images, *(a for m in models for a in ("--model", m)), "--top-k", TOP_K,
               "--json", "--random-weights")
    return proc, images, set(bad), models


@pytest.mark.slow
def test_classify_mixed_exit_status_and_no_traceback(mixed):
    proc, *_ = mixed
    assert_no_traceback(proc)
    assert proc.returncode == 1, proc.stderr[-3000:]


def test_classify_json_schema(mixed):
    proc, images, bad, models = mixed
    out = json.loads(proc.stdout)
    assert set(out) == {"results"}
    results = out["results"]
    assert len(results) == len(images) * len(models)
    # grouped by image in command-line order, models in their order within an image
    assert [r["image"] for r in results] == [img for img in images for _ in models]
    for r in results:
        assert isinstance(r["model"], str)
        if "error" in r:
            assert set(r) == {"image", "model", "error"}
            continue
        assert set(r) == {"image", "model", "topk", "latency_ms"}
        assert isinstance(r["latency_ms"], (int, float)) and r["latency_ms"] >= 0
        assert len(r["topk"]) == TOP_K
        scores = [t["score"] for t in r["topk"]]
        for t in r["topk"]:
            assert set(t) == {"label", "score"} and t["label"] in CIFAR10
            assert 0.0 <= t["score"] <= 1.0
        assert scores == sorted(scores, reverse=True)
        assert len({t["label"] for t in r["topk"]}) == TOP_K


def test_classify_good_images_still_get_results(mixed):
    proc, images, bad, models = mixed
    results = json.loads(proc.stdout)["results"]
    for img in images:
        rows = [r for r in results if r["image"] == img]
        for model, r in zip(models, rows):
            if model == UNKNOWN:
                assert "error" in r
            elif img in bad:
                assert "error" in r and "topk" not in r, r
                assert r["model"].startswith(model)
            else:
                assert "topk" in r and "error" not in r, r
                assert r["model"].startswith(model)


def test_classify_error_messages_are_short_and_clear(mixed):
    proc, images, bad, models = mixed
    results = json.loads(proc.stdout)["results"]
    errors = {(r["image"], r["model"]): r["error"] for r in results if "error" in r}
    for (img, model), msg in errors.items():
        assert msg and "\n" not in msg and "Traceback" not in msg
        if model == UNKNOWN:
            assert UNKNOWN in msg and "vit-tiny-cifar10" in msg  # names it and lists the known ones
        else:
            assert len(msg) <= 200, msg
            assert str(Path(img).parent) not in msg, msg       # no temp-dir path
    by_image = {Path(img).name: msg for (img, model), msg in errors.items() if model.startswith(MODELS[0])}
    assert "empty" in by_image["empty.jpg"]
    assert "not an image" in by_image["notes.jpg"]
    assert "megapixels" in by_image["bomb.png"] and "megapixels" in by_image["too-big.png"]
    assert "no such file" in by_image["missing.jpg"]


@pytest.fixture(scope="module")
def text_run():
    return run("classify", *GOOD, "--model", MODELS[1], "--top-k", 2, "--random-weights")


@pytest.mark.slow
def test_classify_text_output_all_good(text_run):
    assert_no_traceback(text_run)
    assert text_run.returncode == 0, text_run.stderr[-3000:]
    lines = text_run.stdout.splitlines()
    assert lines[0] == GOOD[0] and lines[2] == GOOD[1] and len(lines) == 4
    assert lines[1].strip().startswith(MODELS[1]) and lines[1].rstrip().endswith("ms)")


@pytest.mark.slow
def test_classify_bad_top_k_exits_2():
    proc = run("classify", GOOD[0], "--model", MODELS[0], "--top-k", 0, "--random-weights")
    assert proc.returncode == 2
    assert "--top-k" in proc.stderr
    assert_no_traceback(proc)


@pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
def test_classify_bad_top_k_in_process(value, capsys):
    from vitspace.classify.__main__ import main
    with pytest.raises(SystemExit) as e:
        main([GOOD[0], "--top-k", value])
    assert e.value.code == 2
    assert "top-k" in capsys.readouterr().err


# --- evaluate ----------------------------------------------------------------------------------

def image_folder(root: Path, classes: dict[str, list[str]]) -> Path:
    for cls, files in classes.items():
        (root / cls).mkdir(parents=True)
        for f in files:
            shutil.copy(EXAMPLES / f, root / cls / f)
    return root


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    root = image_folder(tmp_path_factory.mktemp("eval") / "data",
                        {"cat": ["cat.jpg", "dog.jpg"], "dog": ["dog.jpg"], "ship": ["ship.jpg", "airplane.jpg"]})
    ODD["cmyk_jpeg"](root / "ship")     # odd but valid images are part of the data set too
    ODD["gray16_png"](root / "cat")
    (root / "ship" / "notes.txt").write_text("not an image suffix: skipped")
    return root, 7


@pytest.mark.slow
def test_evaluate_json(cifar_folder):
    root, n = cifar_folder
    proc = run("classify.evaluate", "--model", MODELS[1], "--data", root, "--json", "--random-weights",
               "--batch-size", 3)
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert set(out) == {"model", "n", "top1", "top5"}
    assert out["model"].startswith(MODELS[1])
    assert out["n"] == n
    assert 0.0 <= out["top1"] <= out["top5"] <= 1.0


@pytest.mark.slow
def test_evaluate_unknown_classes(tmp_path):
    root = image_folder(tmp_path / "data", {"kitten": ["cat.jpg"], "sofa": ["dog.jpg"]})
    proc = run("classify.evaluate", "--model", MODELS[0], "--data", root, "--json", "--random-weights")
    assert_no_traceback(proc)
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("error:") and "kitten" in err and "sofa" in err and "labels" in err


def test_evaluate_names_a_corrupt_image(tmp_path, capsys):
    from vitspace.classify.evaluate import main
    root = image_folder(tmp_path / "data", {"cat": ["cat.jpg"], "dog": ["dog.jpg"]})
    HOSTILE["truncated_jpeg"](root / "dog")
    code = main(["--model", MODELS[0], "--data", str(root), "--random-weights", "--batch-size", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "dog/truncated.jpg" in err and "truncated" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--limit", "-3"]])
def test_evaluate_bad_numbers_exit_2(args, tmp_path, capsys):
    from vitspace.classify.evaluate import main
    with pytest.raises(SystemExit) as e:
        main(["--model", MODELS[0], "--data", str(tmp_path), *args])
    assert e.value.code == 2
    assert "at least 1" in capsys.readouterr().err
