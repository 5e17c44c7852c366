import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from support import FIXTURES
from torchvision.transforms import v2 as T

import vitspace as vs
from vitspace.classify import classifier as clf_mod
from vitspace.classify.classifier import build_preprocess
from vitspace.models import hub
from vitspace.models.__main__ import main as models_main
from vitspace.util.once import Memo

REQUIRED = ["vit-base", "deit-base", "deit-small", "deit-tiny", "vit-tiny-cifar10", "deit-tiny-cifar10"]


def test_registry_names():
    assert set(REQUIRED) <= set(vs.list_models())
    with pytest.raises(vs.UnknownModelError, match="unknown model 'vit-huge'.*vit-base"):
        vs.get_spec("vit-huge")


@pytest.mark.parametrize("name", vs.list_models())
def test_architecture_builds_offline(name):
    spec = vs.get_spec(name)
    with torch.device("meta"):  # full size, no memory
        out = spec.build()(torch.empty(2, 3, spec.input_size, spec.input_size))
    assert out.shape == (2, len(spec.labels) or 1000)


@pytest.mark.parametrize("name", ["deit-tiny", "vit-tiny-cifar10", "deit-tiny-cifar10"])
def test_architecture_only_predicts_and_is_labelled(name):
    c = vs.get_classifier(name, pretrained=False)
    assert "architecture only" in c.name and c.origin == "random"
    p = c.predict(Image.new("RGB", (50, 40), "blue"), top_k=3)
    assert len(p.topk) == 3 and all(0 <= s <= 1 for _, s in p.topk)
    assert [s for _, s in p.topk] == sorted((s for _, s in p.topk), reverse=True)


def test_architecture_only_weights_are_the_same_every_time_and_leave_the_generator_alone():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    a = vs.create_model("vit-tiny-cifar10", pretrained=False).state_dict()
    assert torch.equal(torch.rand(3), expected), "building drew nothing from the global generator"
    b = vs.create_model("vit-tiny-cifar10", pretrained=False).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "the same random weights, so their figures reproduce"
    other = vs.create_model("vit-tiny-cifar10", pretrained=False, seed=1).state_dict()
    assert not torch.equal(a["head.weight"], other["head.weight"])


def test_students_differ_only_by_distillation_token():
    vit, deit = vs.create_model("vit-tiny-cifar10", False), vs.create_model("deit-tiny-cifar10", False)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(vit) <= 3_000_000 and n(deit) <= 3_000_000
    extra = set(deit.state_dict()) - set(vit.state_dict())
    assert extra == {"dist_token", "head_dist.weight", "head_dist.bias"}
    assert deit.pos_embed.shape[1] == vit.pos_embed.shape[1] + 1


def test_deit_returns_pair_in_distilled_training_and_mean_at_inference():
    deit = vs.create_model("deit-tiny-cifar10", False)
    deit.set_distilled_training(True)
    x = torch.randn(2, 3, 32, 32)
    deit.train()
    cls, dist = deit(x)
    assert cls.shape == dist.shape == (2, 10)
    deit.eval()
    with torch.no_grad():
        feats = deit.forward_features(x)
        mean = (deit.head(feats[:, 0]) + deit.head_dist(feats[:, 1])) / 2
        assert torch.allclose(deit(x), mean, atol=1e-6)


def _photo(w=640, h=480, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w * h * 3).reshape(h, w, 3)
    return Image.fromarray(np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["vit-base", "deit-base"])
def test_hub_preprocessing_equals_the_hub_processor(name):
    """Our offline processor settings give the same pixels as the repository's preprocessor_config.json."""
    from transformers import AutoImageProcessor
    hub = AutoImageProcessor.from_pretrained(str(FIXTURES / "hub" / name))
    ours = build_preprocess(vs.get_spec(name))
    img = _photo()
    expected = hub(images=[img], return_tensors="pt")["pixel_values"]
    got = ours([img])
    assert got.shape == (1, 3, 224, 224)
    assert torch.allclose(got, expected, atol=1e-5)


def test_hub_preprocessing_matches_the_papers_recipe():
    img = _photo(500, 300)
    vit = T.Compose([T.PILToTensor(), T.Resize((224, 224), T.InterpolationMode.BILINEAR, antialias=True),
                     T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)])
    deit = T.Compose([T.PILToTensor(), T.Resize((256, 256), T.InterpolationMode.BICUBIC, antialias=True),
                      T.CenterCrop(224), T.ToDtype(torch.float32, scale=True),
                      T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    for name, ref in [("vit-base", vit), ("deit-base", deit)]:
        got = build_preprocess(vs.get_spec(name))([img])[0]
        assert (got - ref(img)).abs().mean() < 0.02, name


def test_embedded_preprocessing_is_timms_data_config():
    from timm.data import create_transform, resolve_data_config

    from vitspace.data.folders import CIFAR10_MEAN, CIFAR10_STD
    spec = vs.get_spec("deit-tiny-cifar10")
    img = _photo(32, 32)
    got = build_preprocess(spec)([img])[0]
    timm_ref = create_transform(**resolve_data_config(pretrained_cfg=spec.data_cfg))(img)
    manual = (torch.from_numpy(np.array(img)).permute(2, 0, 1) / 255 - torch.tensor(CIFAR10_MEAN)[:, None, None]) \
        / torch.tensor(CIFAR10_STD)[:, None, None]
    assert torch.equal(got, timm_ref)
    assert torch.allclose(got, manual, atol=1e-5)


def test_hub_model_fails_fast_offline():
    t0 = time.monotonic()
    with pytest.raises(vs.WeightsUnavailableError) as e:
        vs.get_classifier("vit-base")
    msg = str(e.value)
    assert "google/vit-base-patch16-224" in msg and "HF_HUB_OFFLINE" in msg and "HF_HUB_CACHE" in msg
    assert "local path" in msg
    assert time.monotonic() - t0 < 10


def test_hub_model_fails_fast_when_the_hub_is_unreachable(monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setattr(hub, "_probe", None)
    t0 = time.monotonic()
    assert vs.default_pair() == ("vit-tiny-cifar10", "deit-tiny-cifar10")
    with pytest.raises(vs.WeightsUnavailableError, match="unreachable"):
        vs.get_classifier("deit-base")
    assert time.monotonic() - t0 < 10


def test_classifier_loads_once_under_concurrency(monkeypatch):
    calls = []
    real = clf_mod._load

    def counting(name, pretrained):
        calls.append(name)
        time.sleep(0.2)  # widen the race window
        return real(name, pretrained)

    monkeypatch.setattr(clf_mod, "_load", counting)
    monkeypatch.setattr(clf_mod, "_loaded", Memo())
    got = []
    threads = [threading.Thread(target=lambda: got.append(vs.get_classifier("deit-tiny", False))) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert calls == ["deit-tiny"] and len({id(g) for g in got}) == 1


def test_models_command_lists_every_model(capsys):
    assert models_main(["--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(vs.list_models())
    assert rows["vit-base"]["params"] == 86_567_656 and rows["vit-base"]["input_size"] == 224
    assert rows["deit-base"]["num_labels"] == 1000 and rows["deit-base"]["source"] == "hub"
    assert rows["vit-base"]["available"] is False  # offline, empty cache
    assert rows["vit-tiny-cifar10"]["num_labels"] == 10 and rows["vit-tiny-cifar10"]["input_size"] == 32
