"""A published repository opens with the standard loaders: the card's Optimum snippets run as written on the tree
`publish --dry-run` stages, and give the fp32 model's top-1.

Three builds (model.onnx, model-int8.onnx, model-int8.xml) are staged: the embedded deit-tiny-cifar10 (trained
weights), and two users' Hub models of tests/support/hubcache.py (random weights): someone/vit-pets-384, a
transformers ViT, and timm/deit_tiny_distilled_patch16_224.fb_in1k, a timm DeiT.

The loaders run as support.loaders' doubles of their classes, which keep their rules (see there).
"""
import json
import re
import sys
import types
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants, snapshot_download
from optimum.exporters.tasks import TasksManager
from PIL import Image
from support import EXAMPLES, FIXTURES
from support.fakehub import TOKEN, FakeHub
from support.hubcache import build_user_cache
from support.loaders import ORTDouble, OVDouble
from transformers import AutoConfig

from vitspace import export
from vitspace.card import hub, layout
from vitspace.card.hub_rules import validate_card
from vitspace.card.publish import main as publish_main
from vitspace.classify.classifier import get_classifier
from vitspace.compress.build import CompressConfig, compress
from vitspace.train import record as trainlog

EMBEDDED, VIT, TIMM = "deit-tiny-cifar10", "someone/vit-pets-384", "timm/deit_tiny_distilled_patch16_224.fb_in1k"
FILES = ("model.onnx", "model-int8.onnx", "model-int8.xml")
REPO = "alice/published"
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The fake Hub cache of the users' models, in use for the module (as test_own_models.py has it)."""
    root = tmp_path_factory.mktemp("layout")
    with pytest.MonkeyPatch.context() as mp:
        hub_cache = build_user_cache(root / "hf-cache", ids=(VIT, TIMM))
        mp.setenv("HF_HUB_CACHE", str(hub_cache))
        mp.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
        yield root


@pytest.fixture(scope="module")
def staged(cache):
    """MODEL -> (its build of FILES, the tree `publish --dry-run` staged for it), built once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine
    out = {}
    try:
        for model in (EMBEDDED, VIT, TIMM):
            build = cache / "builds" / model.replace("/", "--")
            compress(get_classifier(model), CompressConfig(model, build, files=FILES, limit=4, calibration_images=4))
            stage = cache / "stage" / model.replace("/", "--")
            assert publish_main(["--model", model, "--repo-id", REPO, "--artifacts", str(build),
                                 "--dry-run", str(stage)]) == 0
            out[model] = build, stage
    finally:
        torch.set_num_threads(threads)
    return out


def _images(model: str) -> list[Path]:
    """The app's example images, and for the CIFAR-10 model three test images of each class."""
    images = sorted(EXAMPLES.glob("*.jpg"))
    if model == EMBEDDED:
        images += [p for folder in sorted((FIXTURES / "cifar10-test").iterdir()) for p in sorted(folder.iterdir())[:3]]
    return images


def _snippets(stage: Path) -> dict[str, str]:
    """The card's Python snippets by their section's title."""
    text = (stage / "README.md").read_text()
    return dict(re.findall(r"### ([^\n]+)\n\n```python\n(.*?)```", text, flags=re.S))


def _run_snippet(code: str, stage: Path, image: Path, monkeypatch) -> dict:
    """The card's snippet, run as written on the staged folder in place of the repository, with the doubles."""
    monkeypatch.setitem(sys.modules, "optimum.onnxruntime",
                        types.SimpleNamespace(ORTModelForImageClassification=ORTDouble))
    monkeypatch.setitem(sys.modules, "optimum.intel", types.SimpleNamespace(OVModelForImageClassification=OVDouble))
    code = code.replace(f'"{REPO}"', repr(str(stage))).replace('"image.jpg"', repr(str(image)))
    namespace: dict = {}
    exec(compile(code, "card-snippet", "exec"), namespace)
    return namespace


def _top1(run, pixels: torch.Tensor) -> list[int]:
    with torch.inference_mode():
        return [run(pixels[i:i + 1]).argmax(-1).item() for i in range(len(pixels))]


@slow
@pytest.mark.filterwarnings("ignore:__array__ implementation")  # np.array(a torch tensor), as optimum-intel does
@pytest.mark.parametrize("model", [EMBEDDED, VIT, TIMM], ids=("embedded", "hub-transformers", "hub-timm"))
def test_the_cards_optimum_snippets_load_the_staged_files_with_the_fp32_top1(staged, model, monkeypatch, capsys):
    """Each of the card's Optimum snippets, and its second ONNX file as its comment names it, loads its file from
    the staged tree and preprocesses with the tree's own settings; on the app's example images (and CIFAR-10 test
    images) an fp32 file gives the eager fp32 model's top-1, an int8 file the top-1 vitspace's own runner gives it,
    and with trained weights the fp32 model's too on the app's examples."""
    build, stage = staged[model]
    loaders = {t: c for t, c in _snippets(stage).items() if "Optimum" in t}
    assert len(loaders) == 2, "ONNX Runtime and OpenVINO"
    clf = get_classifier(model)
    images = _images(model)
    pixels = clf.preprocess([Image.open(p).convert("RGB") for p in images])  # vitspace's own preprocessing
    eager = _top1(clf.module, pixels)
    codes = [*loaders.values(), loaders[next(t for t in loaders if "ONNX" in t)].replace(
        'file_name="model.onnx"', 'file_name="model-int8.onnx"')]
    assert '# onnx/model-int8.onnx: file_name="model-int8.onnx"' in codes[0]
    loaded = set()
    for code in codes:
        ns = _run_snippet(code, stage, images[0], monkeypatch)
        loader, processor = ns["model"], ns["processor"]
        path = loader.path.relative_to(stage).as_posix()
        got = [loader(**processor(images=Image.open(p).convert("RGB"), return_tensors="pt")).logits.argmax(-1).item()
               for p in images]
        name = loader.path.name
        own = eager if name == "model.onnx" else _top1(export.VARIANTS[name].load(build / name), pixels)
        assert got == own, f"{path}: the loader's top-1 is not the file's"
        examples = len(list(EXAMPLES.glob("*.jpg")))
        if model == EMBEDDED:  # trained weights: int8 files too give the fp32 top-1 on the app's examples
            assert got[:examples] == eager[:examples], path
        assert loader.config.id2label[got[0]] == clf.labels[got[0]], "the config names the model's own labels"
        loaded.add(path)
    assert loaded == {"onnx/model.onnx", "onnx/model-int8.onnx", "openvino/model-int8.xml"}
    assert capsys.readouterr().out.split("\n")[-2] in clf.labels, "the snippet prints a label"


@slow
@pytest.mark.parametrize("model", [EMBEDDED, VIT, TIMM], ids=("embedded", "hub-transformers", "hub-timm"))
def test_the_tree_holds_the_configs_the_loaders_read_and_a_card_the_hub_links(staged, model):
    _, stage = staged[model]
    paths = {p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()}
    own = {EMBEDDED: [trainlog.CURVES_FILE], VIT: ["preprocessor_config.json"]}.get(model, [])  # the card's figure
    assert paths == {"README.md", "config.json", *own,
                     "onnx/model.onnx", "onnx/model-int8.onnx", "openvino/model-int8.xml", "openvino/model-int8.bin",
                     "vitspace.json", "manifest.json", hub.MARKER}
    config = json.loads((stage / "config.json").read_text())
    library = TasksManager.infer_library_from_model(str(stage))  # what OptimizedModel.from_pretrained reads
    assert library == ("transformers" if model == VIT else "timm") and "hf_hub_id" not in config
    assert type(AutoConfig.from_pretrained(stage)).__name__ == ("ViTConfig" if model == VIT else "TimmWrapperConfig")
    labels = get_classifier(model).labels
    assert config["id2label"] == {str(i): label for i, label in enumerate(labels)}
    own = json.loads((stage / "vitspace.json").read_text())
    assert own["files"] == ["onnx/model.onnx", "onnx/model-int8.onnx", "openvino/model-int8.xml"]
    assert own["id2label"] == config["id2label"] and own["model"] == model

    card = ModelCard.load(stage / "README.md")
    validate_card(str(card))
    data = card.data.to_dict()
    if model == EMBEDDED:  # trained by vitspace: its training, not a base model
        assert "base_model" not in data and data["datasets"] == ["uoft-cs/cifar10"]
        assert "## Training recipe" in card.text and "trained by vitspace on CIFAR-10" in card.text
    else:
        assert (data["base_model"], data["base_model_relation"]) == (model, "quantized")
    assert data.get("library_name") == ("transformers" if model == VIT else None)
    text = card.text
    assert text.index("with Optimum") < text.index("### In each file's own runtime") < text.index("#### ONNX Runtime")
    assert "| `onnx/model-int8.onnx` | onnx |" in text and "| `openvino/model-int8.xml` | openvino |" in text
    assert f'hf_hub_download("{REPO}", "onnx/model.onnx", local_dir=".")' in text
    assert 'ort.InferenceSession("onnx/model.onnx"' in text and 'compile_model("openvino/model-int8.xml"' in text


def test_onnx_and_openvino_files_go_to_their_folders_the_others_stay_at_the_top():
    for file, variant in export.VARIANTS.items():
        folder = {"onnx": "onnx/", "openvino": "openvino/"}.get(variant.format, "")
        assert [layout.repo_path(f) for f in variant.files] == [folder + f for f in variant.files]
    assert layout.repo_path("an-older-build.bin") == "an-older-build.bin"


@slow
def test_the_pushed_repository_downloads_as_it_was_staged(staged, monkeypatch, tmp_path):
    """Folders and all: what snapshot_download brings back of the push is the staged tree, byte for byte."""
    build, stage = staged[EMBEDDED]
    with FakeHub() as fake:
        fake.reach_in_process(monkeypatch, TOKEN)
        result = hub.publish(hub.PublishConfig(EMBEDDED, REPO, build, staging=tmp_path / "staging"))
        folder = Path(snapshot_download(REPO, cache_dir=tmp_path / "download", token=TOKEN))
    tree = {p.relative_to(stage).as_posix(): p.read_bytes() for p in stage.rglob("*") if p.is_file()}
    assert sorted(result.uploaded) == sorted(tree)
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != ".gitattributes"} == tree
