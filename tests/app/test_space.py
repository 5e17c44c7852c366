"""The app as a Hugging Face Space runs it, offline: HOME /home/user-like, the repository copied to
HOME/app as the working directory, Hub weights from a local cache; and the app started from another folder."""
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from support.hubcache import build_hub_cache
from support.launch import ROOT, fresh_home, remove, running_app, user_env

from vitspace.models.hf import imagenet_labels

EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.slow


def _copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith("tests/"):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


@pytest.fixture(scope="module")
def space():
    root = fresh_home("space")
    home = root / "home" / "user"
    app_dir = _copy_repo(home / "app")
    cache = build_hub_cache(root / "hf-cache")
    env = {"HF_HUB_CACHE": str(cache)}
    with running_app(home, cwd=app_dir, app=app_dir / "app.py", **env) as (url, log, _):
        yield url, home, app_dir, env, log
    remove(root)


def _component_value(url: str, elem_id: str):
    config = json.loads(urllib.request.urlopen(url + "config", timeout=30).read())
    return next(c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)


def test_space_default_pair_is_the_hub_pair(space):
    url, home, app_dir, env, _ = space
    out = subprocess.run([sys.executable, "-c", "import vitspace; print(*vitspace.default_pair())"], cwd=app_dir,
                         env=user_env(home, **env), capture_output=True, text=True, check=True).stdout.split()
    assert out == ["vit-base", "deit-base"]
    assert _component_value(url, "model-a") == "vit-base"
    assert _component_value(url, "model-b") == "deit-base"


def test_space_classify_answers_with_imagenet_labels(space):
    labels = set(imagenet_labels().values())
    a, b, summary, *_ = Client(space[0], verbose=False).predict(handle_file(str(EXAMPLES / "cat.jpg")), "vit-base",
                                                           "deit-base", False, api_name="/classify")
    assert a["label"] == "vit-base" and b["label"] == "deit-base" and "architecture only" not in summary
    for answer in (a, b):
        assert answer["value"]["label"] in labels
        assert all(c["label"] in labels for c in answer["value"]["confidences"])


def test_space_compresses_the_hub_deit_tiny_from_the_cache(space):
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter
    url, home, *_ = space
    rows, files, about, *_ = Client(url, verbose=False).predict("deit-tiny", ["int8-mobile.ptl"], "auto", False,
                                                              api_name="/compress")
    assert about.startswith("**deit-tiny** (pretrained)")
    row = dict(zip(rows["headers"], rows["data"][0]))
    assert row["file"] == "int8-mobile.ptl" and row["gate"] not in ("failed", "skipped") and float(row["MB"]) > 1
    assert any((home / ".cache" / "vitspace" / "builds").glob("*/int8-mobile.ptl"))
    ptl = next(f for f in files if f.endswith(".ptl"))
    assert _load_for_lite_interpreter(ptl)(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


def test_app_started_from_another_folder_builds_benchmarks_and_renders_the_card():
    """`cd ~ && python /path/to/app.py`: every tab's files come from the build root under HOME."""
    from huggingface_hub import ModelCard
    home = fresh_home("elsewhere")
    try:
        with running_app(home, cwd=home) as (url, _, _):
            client = Client(url, verbose=False)
            a, b, *_ = client.predict(handle_file(str(EXAMPLES / "dog.jpg")), "vit-tiny-cifar10", "deit-tiny-cifar10",
                                     False, api_name="/classify")
            assert a["value"]["label"] == b["value"]["label"] == "dog"
            rows, files, *_ = client.predict("deit-tiny-cifar10", ["int8-mobile.ptl"], "auto", True,
                                             api_name="/compress")
            row = dict(zip(rows["headers"], rows["data"][0]))
            assert row["gate"] not in ("failed", "skipped") and Path(files[0]).stat().st_size > 1_000_000
            bench = client.predict("deit-tiny-cifar10", ["eager-fp32"], ["1"], 1, True, api_name="/bench")
            assert "Measured in" in bench[0] and any(f.endswith(".json") for f in bench[5])
            _, body, files = client.predict(api_name="/card")
            assert len(files) == 1, "random weights: the README alone, no training curves"
            assert "int8-mobile.ptl" in body and "deit-tiny-cifar10" in ModelCard.load(files[0]).text
    finally:
        remove(home)
