"""The app's HTTP API, driven with gradio_client against `python app.py` as users launch it."""
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from support import EXAMPLES, ROOT
from support.hostile import HOSTILE, ODD
from support.hubcache import PETS, save_user_model

from vitspace.data.folders import CIFAR10_CLASSES
from vitspace.models.hf import imagenet_labels
from vitspace.models.registry import get_spec

PAIR = ("vit-tiny-cifar10", "deit-tiny-cifar10")
TEACHER = get_spec("deit-tiny-cifar10").teacher
PETS_VIT, TIMM_DEIT = "someone/vit-pets-384", "timm/deit_tiny_distilled_patch16_224.fb_in1k"  # in hub_app's cache


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def hub_client(hub_app):
    return Client(hub_app, verbose=False)


def _classify(client, path, a=PAIR[0], b=PAIR[1], random_weights=False):
    return client.predict(handle_file(str(path)), a, b, random_weights, api_name="/classify")


def _assert_answer(result, models=PAIR):
    label_a, label_b, summary, *_ = result
    for label, model in zip((label_a, label_b), models):
        value = label["value"]
        assert label["label"] == model
        assert value["label"] in CIFAR10_CLASSES and len(value["confidences"]) == 5
        scores = [c["confidence"] for c in value["confidences"]]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6
    top_a, top_b = label_a["value"]["label"], label_b["value"]["label"]
    verdict = "**The models agree.**" if top_a == top_b else "**The models disagree.**"
    assert "ms |" in summary and summary.startswith(verdict)
    return top_a, top_b


@pytest.mark.parametrize("name", CIFAR10_CLASSES)
def test_api_labels_each_example_right_with_the_embedded_pair(client, name):
    # the examples the demo offers, one per class: the trained pair must get every one right
    result = _classify(client, EXAMPLES / f"{name}.jpg")
    assert _assert_answer(result) == (name, name)
    assert "- **deit-tiny-cifar10**: DeiT student (class + distillation token) distilled on CIFAR-10 from " \
           f"{TEACHER}" in result[2], "the DeiT says which teacher it learned from"


def test_api_shows_attention_maps_and_deits_two_heads(client):
    from PIL import Image
    *_, map_a, map_b, heads = _classify(client, EXAMPLES / "ship.jpg")
    for path in (map_a, map_b):
        with Image.open(path) as im:
            assert min(im.size) >= 256  # a 32-pixel image drawn at display size
    vit, deit = heads.split("**deit-tiny-cifar10**")  # a block per model: its heads, its answer, its teacher
    assert vit.startswith("**vit-tiny-cifar10**") and "| **answer** | ship" in vit and "head" not in vit
    assert "| class head | ship" in deit and "| distillation head |" in deit and f"| teacher {TEACHER}" in deit
    assert "The class and distillation heads agree" in deit or "The class and distillation heads disagree" in deit


def test_api_fast_path_answers_as_eager_and_says_which_file_it_ran(client):
    eager = _assert_answer(_classify(client, EXAMPLES / "ship.jpg"))
    fast = True  # inputs: image, model A, model B, architecture only, fast path, attention method
    result = client.predict(handle_file(str(EXAMPLES / "ship.jpg")), *PAIR, False, fast, "rollout",
                            api_name="/classify")
    fast_pair = tuple(f"{model} [fast]" for model in PAIR)
    assert _assert_answer(result, fast_pair) == eager
    for model in fast_pair:  # a file that passed the fidelity gate on this CPU, named next to the answer
        assert f"{model}: fast path: `" in result[2]
    assert result[3] is None and result[4] is None  # the compiled program keeps no attention to show


def test_api_labels_architecture_only_models(client):
    label_a, _, summary, *_ = _classify(client, EXAMPLES / "ship.jpg", "deit-tiny", PAIR[1], random_weights=True)
    assert "architecture only" in label_a["label"] and "architecture only" in summary


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_api_rejects_hostile_upload_clearly_and_keeps_serving(client, name, tmp_path):
    with pytest.raises(AppError) as e:
        _classify(client, HOSTILE[name](tmp_path))
    msg = str(e.value)
    assert msg and "Traceback" not in msg and "File \"" not in msg
    _assert_answer(_classify(client, EXAMPLES / "dog.jpg"))  # the server still serves


@pytest.mark.parametrize("name", sorted(ODD))
def test_api_accepts_odd_images(client, name, tmp_path):
    _assert_answer(_classify(client, ODD[name](tmp_path)))


def test_api_unknown_model_gets_a_clear_message(client):
    with pytest.raises(AppError, match="vit-gigantic"):
        _classify(client, EXAMPLES / "cat.jpg", "vit-gigantic")


def test_api_unavailable_hub_weights_explain_how_to_provide_them(client):
    with pytest.raises(AppError, match="HF_HUB_OFFLINE"):
        _classify(client, EXAMPLES / "cat.jpg", "vit-base", "deit-base")


@pytest.mark.slow
def test_api_compares_two_typed_hub_models_each_with_its_own_labels(hub_client):
    a, b, summary, *_ = _classify(hub_client, EXAMPLES / "cat.jpg", PETS_VIT, TIMM_DEIT)
    assert a["label"] == PETS_VIT and b["label"] == TIMM_DEIT
    assert {c["label"] for c in a["value"]["confidences"]} == set(PETS.values())  # its 3 labels, none of CIFAR's
    imagenet = set(imagenet_labels().values())
    assert len(b["value"]["confidences"]) == 5 and {c["label"] for c in b["value"]["confidences"]} <= imagenet
    assert b["value"]["label"] in imagenet
    for model in (PETS_VIT, TIMM_DEIT):
        assert f"**{model}** from the local Hugging Face cache" in summary, "where the weights came from"


@pytest.mark.slow
def test_api_classifies_with_a_model_in_a_folder_and_says_so(hub_client, tmp_path):
    folder = save_user_model(PETS_VIT, tmp_path / "my-vit")  # the app runs on this machine: it reads the folder
    a, _, summary, *_ = _classify(hub_client, EXAMPLES / "dog.jpg", str(folder), PAIR[1])
    assert a["label"] == str(folder) and a["value"]["label"] in PETS.values()
    assert f"**{folder}** from a local folder" in summary and f"**{PAIR[1]}** embedded in vitspace" in summary


@pytest.mark.slow
@pytest.mark.parametrize("model, says", [("someone/bert-sentiment", ("ViT", "DeiT", "bert")),
                                         ("someone/resnet-flowers", ("ViT", "DeiT", "resnet")),
                                         ("someone/not-downloaded", ("not in the local cache", "HF_HUB_OFFLINE"))])
def test_api_a_typed_model_it_cannot_run_is_refused_in_a_sentence_and_the_app_keeps_serving(hub_client, model,
                                                                                            says):
    with pytest.raises(AppError) as e:
        _classify(hub_client, EXAMPLES / "cat.jpg", model, TIMM_DEIT)
    msg = str(e.value)
    assert model in msg and all(s in msg for s in says), msg
    assert "Traceback" not in msg and "File \"" not in msg
    a, *_ = _classify(hub_client, EXAMPLES / "cat.jpg", PETS_VIT, PAIR[1])  # the next request is answered
    assert a["value"]["label"] in PETS.values()


@pytest.mark.slow
def test_api_a_model_downloading_shows_its_progress_and_says_it_came_from_the_hub(online_app):
    job = Client(online_app, verbose=False).submit(handle_file(str(EXAMPLES / "cat.jpg")), PETS_VIT, PAIR[1], False,
                                                   api_name="/classify")
    bars = set()
    while not job.done():  # huggingface_hub's tqdm bar of the weights, as the event's progress
        bars |= {p.desc for p in job.status().progress_data or []}
        time.sleep(0.05)
    a, _, summary, *_ = job.result()
    assert any(d and d.endswith("model.safetensors") for d in bars), bars
    assert a["value"]["label"] in PETS.values()
    assert f"**{PETS_VIT}** downloaded from the Hugging Face Hub" in summary


def test_api_caps_upload_size(client, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(26 * 1024 * 1024))
    with pytest.raises(Exception) as e:
        _classify(client, big)
    assert "size" in str(e.value).lower() or "413" in str(e.value) or "large" in str(e.value).lower()
    _assert_answer(_classify(client, EXAMPLES / "frog.jpg"))


def test_api_benchmark_measures_and_then_shows_the_saved_run(client):
    args = ("vit-tiny-cifar10", ["eager-fp32", "mobile-tutorial-qnnpack"], ["1", "8"], 1, True)
    about, table, latency, speedup, tradeoff, files, details = client.predict(*args, api_name="/bench")
    rows = [dict(zip(table["headers"], r)) for r in table["data"]]
    assert [(r["variant"], r["batch"], r["status"]) for r in rows] == [
        ("eager-fp32", 1, "ok, fastest passing"), ("eager-fp32", 8, "ok, fastest passing"),
        ("mobile-tutorial-qnnpack", 1, "ok"), ("mobile-tutorial-qnnpack", 8, "ok")]
    assert [r["peer"] for r in rows] == ["", "", "peer", "peer"]  # the mobile tutorial's recipe is a peer
    assert "Measured in" in about and "1 threads" in about
    assert "| eager-fp32 | 8 | torch eager |" in details  # the long fields apart
    saved = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert [f"{r['p50_ms']:.2f}" for r in saved["results"]] == [r["p50 ms"] for r in rows]  # to 2 decimals
    again = client.predict(*args, api_name="/bench")
    assert "Shown again" in again[0] and again[1]["data"] == table["data"]
    with pytest.raises(AppError, match="Choose at least one variant"):
        client.predict("vit-tiny-cifar10", [], ["1"], 1, True, api_name="/bench")


def test_app_serves_only_what_it_built(app, client, tmp_path):
    token = app.home / ".cache" / "huggingface" / "token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("hf_never_served")
    builds = app.home / ".cache" / "vitspace" / "builds"
    outside = [token, ROOT / "app.py", Path("/etc/passwd"),
               builds / ".." / ".." / "huggingface" / "token", Path(__file__)]
    for path in outside:
        r = httpx.get(f"{app.url}gradio_api/file={path}", timeout=30)
        assert r.status_code == 403 and "hf_never_served" not in r.text, path
    rows, files, *_ = client.predict("deit-tiny-cifar10", ["int8-mobile.ptl"], "auto", True, api_name="/compress")
    built = next(builds.glob("*/int8-mobile.ptl"))
    r = httpx.get(f"{app.url}gradio_api/file={built}", timeout=30)
    assert r.status_code == 200 and r.content == built.read_bytes() == Path(files[0]).read_bytes()


def test_an_unknown_file_format_gets_a_clear_message_and_the_server_keeps_serving(client):
    with pytest.raises(AppError) as e:
        client.predict("deit-tiny-cifar10", ["no-such-file.bin"], "auto", True, api_name="/compress")
    assert "no-such-file.bin" in str(e.value) and "Traceback" not in str(e.value)
    _assert_answer(_classify(client, EXAMPLES / "horse.jpg"))


@pytest.mark.slow
def test_an_unexpected_failure_is_one_sentence_with_the_traceback_in_the_log(caplog):
    import gradio as gr

    import app

    @app.handled("Doing the thing")
    def broken(path):
        raise ZeroDivisionError(f"internal detail of {path}")

    with pytest.raises(gr.Error) as e:
        broken("/home/user/.cache/secret")
    assert e.value.message.startswith("Doing the thing failed unexpectedly (ZeroDivisionError). Try again")
    assert "secret" not in e.value.message and e.value.title == "Doing the thing failed"
    assert "internal detail" in caplog.text  # the server log keeps the traceback


@pytest.mark.slow
def test_tqdm_bars_stop_reaching_the_page_once_the_models_are_loaded():
    """torch.fx updates a hidden tqdm bar per graph node: Gradio reporting each made the fast path's first
    compile ten times slower (40 s to 8 min)."""
    import gradio as gr
    from gradio.context import LocalContext

    import app
    token = LocalContext.progress.set(gr.Progress(track_tqdm=True))  # as Gradio sets it for the event's handler
    try:
        app._download(list(PAIR), True)
        assert LocalContext.progress.get(None) is None
    finally:
        LocalContext.progress.reset(token)
