"""A published repository opens with the standard loaders: the card's Optimum snippets run as written on the tree
`publish --dry-run` stages, and give the fp32 model's top-1.

Three builds (model.onnx, model-int8.onnx, model-int8.xml) are staged: the embedded deit-tiny-cifar10 (trained
weights), and two users' Hub models of tests/support/hubcache.py (random weights): someone/vit-pets-384, a
transformers ViT, and timm/deit_tiny_distilled_patch16_224.fb_in1k, a timm DeiT.

Neither loader installs here beside transformers 5.24 and openvino 2026, so the snippets run with doubles of their
classes that keep their rules, each cited below:
- optimum-onnx, ORTModelForImageClassification's package, needs transformers<4.58;
- optimum-intel 1.15.0, the last release that installs beside these pins, imports openvino.runtime (gone in
  openvino 2026), transformers.onnx (gone in transformers 5) and optimum.exporters.onnx (now optimum-onnx's), and
  falls back to a dummy OVModelForImageClassification.
Both classes load through optimum's own `OptimizedModel.from_pretrained` (optimum 2.3.0, optimum/modeling_base.py:
308-419: config.json from `subfolder`, else the top level; the library inferred from it, exporters/tasks.py:943; a
timm config read as a PretrainedConfig, anything else by AutoConfig), which the doubles inherit and run as it is.
"""
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, constants, snapshot_download
from optimum.exporters.tasks import TasksManager
from optimum.modeling_base import OptimizedModel
from optimum.utils.file_utils import find_files_matching_pattern
from PIL import Image
from support import EXAMPLES, FIXTURES
from support.fakehub import TOKEN, FakeHub
from support.hubcache import build_user_cache
from transformers import AutoConfig
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import cached_file

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


class ORTDouble(OptimizedModel):
    """optimum-onnx 0.1.0's ORTModelForImageClassification, as it finds, opens and runs a file."""

    @classmethod
    def _from_pretrained(cls, model_id, config, subfolder="", file_name=None, **kwargs):
        import onnxruntime
        # optimum/onnxruntime/modeling.py:368-379: every **/*.onnx under subfolder, relative to a folder
        found = find_files_matching_pattern(model_id, r".*\.onnx$", glob_pattern="**/*.onnx", subfolder=subfolder)
        found = [f.relative_to(model_id) for f in found]
        # :259-338 `_infer_file_path`: file_name by its name, else model.onnx, else the one file there is
        picked = [f for f in found if f.name == (file_name or "model.onnx")] or ([] if file_name else found)
        assert picked, f"no ONNX file {file_name} in {found}"
        # :387-396: `_cached_file`, transformers' cached_file of the file's name in its folder
        path = cached_file(model_id, filename=picked[0].name, subfolder=picked[0].parent.as_posix())
        model = cls(onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]), config)
        model.path = Path(path)
        return model

    def forward(self, pixel_values, **kwargs):
        # :1316, :1334-1336: feeds "pixel_values", reads the output named "logits"
        names = [o.name for o in self.model.get_outputs()]
        outputs = dict(zip(names, self.model.run(None, {"pixel_values": pixel_values.numpy()})))
        return ImageClassifierOutput(logits=torch.from_numpy(outputs["logits"]))

    def _save_pretrained(self, save_directory):
        raise NotImplementedError


class OVDouble(OptimizedModel):
    """optimum-intel 1.15.0's OVModelForImageClassification, as it finds, opens and runs an IR in a folder."""

    @classmethod
    def from_pretrained(cls, model_id, **kwargs):
        # optimum/intel/openvino/modeling.py:585 and utils.py:114-131 (`_is_timm_ov_dir`): a folder with a
        # config.json, an .xml and a .bin at its top is a timm export, and a config's hf_hub_id is looked up on the Hub
        top = [p.name for p in Path(model_id).iterdir()]
        configs = [json.loads((Path(model_id) / n).read_text()) for n in top if n.endswith("config.json")]
        assert not (any(n.endswith(".xml") for n in top) and any(c.get("hf_hub_id") for c in configs))
        return super().from_pretrained(model_id, **kwargs)  # modeling.py:608: OptimizedModel.from_pretrained

    @classmethod
    def _from_pretrained(cls, model_id, config, subfolder="", file_name=None, **kwargs):
        import openvino
        # optimum/intel/openvino/modeling_base.py:189-190, 218-219: file_name (openvino_model.xml by default),
        # read in a folder at model_id / file_name, subfolder ignored
        path = Path(model_id) / (file_name or "openvino_model.xml")
        model = cls(openvino.Core().read_model(path), config)
        model.path = path
        return model

    def __init__(self, model, config):
        super().__init__(model, config)
        # modeling_base.py:68-72, 357-375 (`_reshape`): every dimension of an image classifier's input made dynamic
        model.reshape({i: [-1, -1, -1, -1] for i in model.inputs})
        # :74-84: inputs and outputs by their names without "/"
        self.input_names = {next(n for n in i.get_names() if "/" not in n): k for k, i in enumerate(model.inputs)}
        import openvino
        self.request = openvino.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY"})  # :338-351

    def forward(self, pixel_values, **kwargs):
        # modeling.py:642-649: feeds {"pixel_values": ...}, reads outputs["logits"]
        outputs = self.request({"pixel_values": np.array(pixel_values)})
        return ImageClassifierOutput(logits=torch.from_numpy(outputs["logits"].copy()))

    def _save_pretrained(self, save_directory):
        raise NotImplementedError


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
        monkeypatch.setattr(constants, "ENDPOINT", fake.url)  # as HF_ENDPOINT sets both, at import
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            fake.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        result = hub.publish(hub.PublishConfig(EMBEDDED, REPO, build, staging=tmp_path / "staging"))
        folder = Path(snapshot_download(REPO, cache_dir=tmp_path / "download", token=TOKEN))
    tree = {p.relative_to(stage).as_posix(): p.read_bytes() for p in stage.rglob("*") if p.is_file()}
    assert sorted(result.uploaded) == sorted(tree)
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != ".gitattributes"} == tree
