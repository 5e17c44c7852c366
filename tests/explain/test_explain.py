"""Attention maps and DeiT's heads (vitspace.explain): the maths by hand, the models, and the command.

The command runs as a user would (subprocesses, offline); its three launches run in parallel.
"""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from support import ROOT, one_torch_thread

import vitspace
from vitspace.explain import (
    ExplainError,
    attention_maps,
    display_image,
    explain,
    figure,
    figures,
    forward_with_attention,
    rollout,
)
from vitspace.explain.__main__ import main

SHIP = ROOT / "examples" / "ship.jpg"
# (name, pretrained): the two trained students and an architecture-only Hub DeiT
MODELS = [("vit-tiny-cifar10", True), ("deit-tiny-cifar10", True), ("deit-tiny", False)]
DEIT = [m for m in MODELS if "deit" in m[0]]
ids = [name for name, _ in MODELS]


def stochastic(rows) -> np.ndarray:
    a = np.array(rows, dtype=np.float64)
    return a / a.sum(-1, keepdims=True)


# a toy transformer's attention: 2 layers, 2 heads, 5 tokens (a class token and a 2x2 patch grid)
LAYER1 = np.stack([stochastic([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [2, 0, 0, 0, 1]]),
                   stochastic([[3, 1, 1, 1, 1], [1, 3, 1, 1, 1], [1, 1, 3, 1, 1], [1, 1, 1, 3, 1], [1, 1, 1, 1, 3]])])
LAYER2 = np.stack([stochastic([[0, 1, 1, 0, 0], [1, 0, 0, 1, 0], [0, 0, 1, 0, 1], [1, 1, 1, 1, 0], [0, 0, 0, 1, 1]]),
                   stochastic([[1, 0, 0, 0, 9], [9, 0, 0, 0, 1], [1, 2, 3, 2, 1], [4, 3, 2, 1, 0], [1, 1, 0, 0, 1]])])


def test_rollout_matches_hand_computation():
    # each layer: heads averaged, identity added (the residual path), rows normalised; then A2 @ A1
    a1 = (LAYER1[0] + LAYER1[1]) / 2 + np.eye(5)
    a1 /= a1.sum(1, keepdims=True)
    a2 = (LAYER2[0] + LAYER2[1]) / 2 + np.eye(5)
    a2 /= a2.sum(1, keepdims=True)
    expected = a2 @ a1
    assert expected[0, 1] == pytest.approx(
        sum(a2[0, j] * a1[j, 1] for j in range(5)))  # the product, one entry written out
    got = rollout([torch.tensor(LAYER1), torch.tensor(LAYER2)]).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-12)
    first_rows = rollout([torch.tensor(LAYER1), torch.tensor(LAYER2)], rows=2).numpy()
    np.testing.assert_allclose(first_rows, expected[:2], atol=1e-12)

    maps = attention_maps([torch.tensor(LAYER1), torch.tensor(LAYER2)], ("class",), "rollout")
    assert list(maps) == ["class"] and maps["class"].shape == (2, 2)
    np.testing.assert_allclose(maps["class"].ravel(), expected[0, 1:] / expected[0, 1:].sum(), atol=1e-12)


def test_last_layer_maps_by_hand_with_a_distillation_token():
    rng = np.random.default_rng(0)
    layers = [stochastic(rng.random((3, 6, 6))) for _ in range(2)]  # 3 heads, class + distillation + 2x2
    maps = attention_maps([torch.tensor(a) for a in layers], ("class", "distillation"), "last")
    last = layers[-1].mean(0)
    for row, token in enumerate(["class", "distillation"]):
        np.testing.assert_allclose(maps[token].ravel(), last[row, 2:] / last[row, 2:].sum(), atol=1e-12)


def test_unknown_method_is_refused():
    with pytest.raises(ExplainError, match="rollout"):
        attention_maps([torch.tensor(LAYER1)], ("class",), "gradcam")


# --- the models ------------------------------------------------------------------------------------

def patch_grid(module) -> tuple[int, int]:
    """The patch grid as the model itself defines it."""
    if hasattr(module, "patch_embed"):  # timm
        return tuple(module.patch_embed.grid_size)
    side = module.hf.config.image_size // module.hf.config.patch_size
    return side, side


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def ship():
    return vitspace.load_image(SHIP)


@pytest.fixture(scope="module", params=MODELS, ids=ids)
def clf(request):
    torch.manual_seed(0)  # architecture-only weights
    return vitspace.get_classifier(*request.param)


@pytest.mark.parametrize("method", ["rollout", "last"])
def test_maps_cover_the_patch_grid_and_are_distributions(clf, ship, method):
    e = explain(clf, ship, method=method, teacher=False)
    tokens = ["class", "distillation"] if clf.spec.family == "deit" else ["class"]
    assert list(e.maps) == tokens
    assert e.grid == patch_grid(clf.module)
    for grid in e.maps.values():
        assert grid.shape == patch_grid(clf.module)
        assert (grid >= 0).all()
        assert grid.sum() == pytest.approx(1, abs=1e-9)


def test_logits_come_from_the_one_plain_forward(clf, ship):
    calls = []
    hooks = lambda: sum(len(m._forward_hooks) for m in clf.module.modules())  # noqa: E731
    before = hooks()
    handle = clf.module.register_forward_hook(lambda *_: calls.append(1))
    try:
        e = explain(clf, ship, teacher=False)
    finally:
        handle.remove()
    assert len(calls) == 1  # logits and attentions from one forward
    assert hooks() == before  # explain leaves no hook behind
    with torch.inference_mode():
        plain = clf.module(clf.preprocess([ship])).float()[0].numpy()
    np.testing.assert_allclose(e.logits, plain, atol=1e-5, rtol=0)
    assert e.answer.label == clf.labels[int(plain.argmax())]


@pytest.mark.parametrize("name, pretrained", DEIT, ids=[n for n, _ in DEIT])
def test_deit_heads_average_to_the_logits(name, pretrained, ship):
    torch.manual_seed(0)
    clf = vitspace.get_classifier(name, pretrained)
    out = forward_with_attention(clf.module, clf.preprocess([ship]))
    assert set(out.heads) == {"class", "distillation"}
    torch.testing.assert_close((out.heads["class"] + out.heads["distillation"]) / 2, out.logits, atol=1e-5, rtol=0)
    e = explain(clf, ship, teacher=False)
    assert [h.name for h in e.heads] == ["class", "distillation"]
    assert all(len(h.top3) == 3 for h in [*e.heads, e.answer])
    assert e.agree == (e.heads[0].label == e.heads[1].label)


def test_the_deit_student_shows_its_teacher_and_its_heads_agree_on_the_ship(ship):
    e = explain("deit-tiny-cifar10", ship)
    assert e.teacher is not None and e.teacher.name == vitspace.get_spec("deit-tiny-cifar10").teacher
    assert e.answer.label == e.teacher.label == "ship"
    assert e.agree is True
    assert explain("vit-tiny-cifar10", ship).teacher is None  # trained without one
    assert explain("deit-tiny", ship, pretrained=False).teacher is None  # its RegNet teacher is not in the registry


def test_a_convnet_has_no_attention_to_show(ship):
    with pytest.raises(ExplainError, match="no attention"):
        explain("resnet9-cifar10", ship)


# --- display ---------------------------------------------------------------------------------------

def test_small_images_are_enlarged_with_nearest_neighbour(ship):
    big = display_image(ship, min_side=256)
    assert big.size == (256, 256)
    a = np.asarray(big)
    assert (a[:8, :8] == np.asarray(ship)[0, 0]).all()  # each pixel a flat 8x8 block
    large = Image.new("RGB", (300, 400))
    assert display_image(large, min_side=256) is large


def test_figure_puts_deit_maps_side_by_side(ship):
    vit = figure(explain("vit-tiny-cifar10", ship))
    deit = figure(explain("deit-tiny-cifar10", ship))
    assert vit.height > 256 and deit.height > 256
    assert deit.width > 2 * 256  # two 256-pixel panels


def test_figures_of_a_pair_share_one_size_and_scale(ship):
    """A ViT's figure beside a DeiT's: as wide, the same panel size, though the DeiT has a map more; panels of
    models with other input sizes drawn at the same width."""
    vit, deit = explain("vit-tiny-cifar10", ship), explain("deit-tiny-cifar10", ship)
    a, b = figures([vit, deit])
    assert a.size == b.size and a.width > 3 * 256  # the input and two maps' places, 256 px each
    assert figures([None, deit])[0] is None
    bigger = dataclasses.replace(deit, view=deit.view.resize((224, 224)))  # as a Hub model's view
    assert figures([vit, bigger])[1].size == a.size
    assert figure(deit, answers=False).height < figure(deit).height  # the page shows the answers in a table


# --- the command -----------------------------------------------------------------------------------

def launch(*args: str) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")  # three launches share the cores
    return subprocess.Popen([sys.executable, "-m", "vitspace.explain", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """One launch per model, in parallel: --out and --json."""
    d = tmp_path_factory.mktemp("explain")
    procs = {}
    for name, pretrained in MODELS:
        flags = [] if pretrained else ["--random-weights"]
        procs[name] = launch(SHIP, "--model", name, "--out", d / f"{name}.png", "--json", *flags)
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = (proc.returncode, out, err, d / f"{name}.png")
    return results


@pytest.mark.parametrize("name, pretrained", MODELS, ids=ids)
@pytest.mark.slow
def test_command_writes_a_png_and_json_grid(cli, name, pretrained):
    rc, out, err, png = cli[name]
    assert rc == 0, err[-3000:]
    assert "Traceback" not in err
    with Image.open(png) as im:
        im.load()
        assert im.format == "PNG" and min(im.size) >= 256
    result = json.loads(out)
    module = vitspace.create_model(name, pretrained=False)
    rows, cols = patch_grid(module)
    assert result["grid"] == [rows, cols]
    deit = "deit" in name
    assert list(result["maps"]) == (["class", "distillation"] if deit else ["class"])
    for grid in result["maps"].values():
        assert len(grid) == rows and all(len(r) == cols for r in grid)
        assert sum(map(sum, grid)) == pytest.approx(1, abs=1e-4)
    assert len(result["answer"]["top3"]) == 3
    assert len(result["heads"]) == (2 if deit else 0)
    assert result["agree"] in ((True, False) if deit else (None,))
    assert (result["teacher"] is not None) == (name == "deit-tiny-cifar10")  # the distilled student's teacher


def test_students_grid_is_8x8(cli):
    for name in ("vit-tiny-cifar10", "deit-tiny-cifar10"):
        assert json.loads(cli[name][1])["grid"] == [8, 8]


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "unknown model"),
    (["--model", "resnet9-cifar10"], "no attention"),
], ids=["unknown-model", "convnet"])
def test_command_bad_model_exits_2(args, message, tmp_path, capsys):
    assert main([str(SHIP), *args, "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err


def test_command_unreadable_image_exits_2(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    assert main([str(bad), "--model", "vit-tiny-cifar10", "--json"]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jpg"), "--model", "vit-tiny-cifar10", "--json"]) == 2


def test_command_needs_an_output(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(SHIP), "--model", "vit-tiny-cifar10"])
    assert exit_.value.code == 2
