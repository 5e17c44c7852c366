"""A user's own ViT or DeiT, named by Hub id or folder: resolved from its config alone, then classified, explained,
compressed and benchmarked on its own labels, input size and patch grid. Offline, from a fake Hub cache."""
import json

import pytest
import torch
from huggingface_hub import ModelCard
from support import EXAMPLES
from support.hubcache import BEANS, FLOWERS, PETS, save_user_model

import vitspace as vs
from vitspace.bench.run import BenchConfig, bench
from vitspace.card.build import render_card
from vitspace.card.hub_rules import validate_card
from vitspace.card.publish import main as publish_main
from vitspace.compress.build import CompressConfig, compress, gate_verdict
from vitspace.explain.explanation import explain
from vitspace.export import VARIANTS, default_files, missing_packages
from vitspace.models.__main__ import main as models_main
from vitspace.models.resolve import resolve

# Hub id -> (family, library, input size, patch grid, its labels or their count)
EXPECTED = {
    "someone/vit-pets-384": ("vit", "transformers", 384, (24, 24), list(PETS.values())),
    "someone/deit-flowers-teacher": ("deit", "transformers", 224, (14, 14), list(FLOWERS.values())),
    "timm/deit_tiny_distilled_patch16_224.fb_in1k": ("deit", "timm", 224, (14, 14), 1000),
    "someone/vit-small-patch32-beans": ("vit", "timm", 224, (7, 7), BEANS),
}
IDS = list(EXPECTED)
LIGHT = ("int8-mobile.ptl", "model.pte", "model.onnx")  # one file per way of capturing the model


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A transformers DeiT saved to a folder with `save_pretrained`, as a user's `./my-deit`."""
    return save_user_model("someone/deit-flowers-teacher", tmp_path_factory.mktemp("user") / "my-deit")


@pytest.mark.parametrize("hub_id", IDS)
def test_a_hub_id_resolves_from_its_config_to_its_own_labels_and_size(user_models, hub_id):
    family, library, size, _, labels = EXPECTED[hub_id]
    spec = resolve(hub_id)
    assert (spec.family, spec.library, spec.source, spec.repo_id, spec.input_size) == (family, library, "hub",
                                                                                        hub_id, size)
    assert len(spec.labels) == labels if isinstance(labels, int) else list(spec.labels) == labels
    assert spec.preprocessing  # said where it came from: the repository's processor or timm's pretrained_cfg


@pytest.mark.parametrize("hub_id", IDS)
def test_classify_and_explain_on_the_models_own_labels_and_patch_grid(user_models, hub_id):
    family, _, _, grid, labels = EXPECTED[hub_id]
    clf = vs.get_classifier(hub_id)
    assert clf.origin == "cache"
    prediction = clf.predict(EXAMPLES / "cat.jpg", top_k=3)
    assert prediction.label in clf.labels and len(prediction.topk) == 3
    assert len(clf.labels) == (labels if isinstance(labels, int) else len(labels))
    ex = explain(hub_id, EXAMPLES / "cat.jpg")
    assert ex.grid == grid
    tokens = ["class", "distillation"] if family == "deit" else ["class"]
    assert list(ex.maps) == tokens and [h.name for h in ex.heads] == (tokens if family == "deit" else [])
    assert ex.answer.label == prediction.label


def test_a_revision_and_timms_prefix_name_the_same_repository(user_models):
    spec = resolve("hf-hub:someone/vit-pets-384@main")
    assert (spec.repo_id, spec.revision, list(spec.labels)) == ("someone/vit-pets-384", "main", list(PETS.values()))
    assert vs.get_classifier("hf-hub:someone/vit-pets-384@main").predict(EXAMPLES / "dog.jpg").label in PETS.values()


def test_a_folder_is_a_model(folder):
    spec = resolve(str(folder))
    assert (spec.source, spec.folder, spec.family, list(spec.labels)) == ("local", folder, "deit",
                                                                         list(FLOWERS.values()))
    clf = vs.get_classifier(str(folder))
    assert clf.origin == "local" and clf.predict(EXAMPLES / "cat.jpg").label in FLOWERS.values()
    # the folder's weights, not random ones: the same logits as transformers' own loading
    import transformers
    hf = transformers.DeiTForImageClassificationWithTeacher.from_pretrained(folder).eval()
    x = clf.preprocess([vs.load_image(EXAMPLES / "cat.jpg")])
    with torch.inference_mode():
        torch.testing.assert_close(clf.module(x), hf(pixel_values=x).logits)


@pytest.mark.parametrize("name, sentence", [
    ("someone/bert-sentiment", "is a bert model, not a ViT or DeiT image classifier"),
    ("someone/resnet-flowers", "is a resnet model (ResNetForImageClassification), not a ViT or DeiT"),
    ("someone/not-there", "is not in the local cache"),
    ("./no-such-folder", "no such folder"),
    ("vit-bse", "unknown model 'vit-bse'"),
])
def test_refusals_are_one_sentence_naming_what_is_supported(user_models, name, sentence):
    with pytest.raises(vs.VitspaceError) as e:
        vs.get_classifier(name)
    msg = str(e.value)
    assert sentence in msg and "\n" not in msg
    if "supports" in msg or "unknown" in msg:
        assert "ViT" in msg or "Hub id" in msg


def test_a_refused_repository_is_not_downloaded_past_its_config(user_models, monkeypatch):
    """Only config.json (and the small files beside it: processor settings, card) is asked for to refuse."""
    import huggingface_hub
    asked, real = [], huggingface_hub.hf_hub_download

    def recording(repo_id, filename, **kw):
        asked.append(filename)
        return real(repo_id, filename, **kw)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", recording)
    with pytest.raises(vs.UnsupportedModelError):
        resolve("someone/resnet-flowers")
    assert asked and set(asked) <= {"config.json", "preprocessor_config.json", "README.md"}


def test_models_command_says_how_to_name_a_model_and_what_is_supported(capsys):
    assert models_main([]) == 0
    out = capsys.readouterr().out
    assert "Hub id" in out and "folder" in out and "ViTForImageClassification" in out and "timm" in out


@pytest.mark.slow
@pytest.mark.parametrize("hub_id", [*IDS, "folder"])
def test_compress_builds_every_default_file_which_runs_in_its_runtime(user_models, folder, hub_id, tmp_path):
    """Every default file of a DeiT of each library; of the ViTs, which have one head where the DeiTs have two, a
    file of each kind of export (traced, exported, ONNX) at their own input size and patch grid; of a folder (loaded
    as the Hub's snapshot is), the TorchScript pair only: its export is the same as the Hub model's."""
    name = str(folder) if hub_id == "folder" else hub_id
    files = {"folder": ("fp32.pt", "int8.pt"), "someone/vit-pets-384": LIGHT,
             "someone/vit-small-patch32-beans": LIGHT}.get(hub_id, default_files())
    manifest = compress(vs.get_classifier(name), CompressConfig(name, tmp_path, files=files, limit=4))
    size = resolve(name).input_size
    assert manifest.input_shape == [1, 3, size, size]
    for entry in manifest.files:
        expected = "skipped" if missing_packages(VARIANTS[entry.file]) else "ok"
        assert entry.status == expected, (entry.file, entry.reason)
        if entry.status == "ok":  # measured in its own runtime against fp32, and judged by the gate
            assert entry.fidelity.images == 4 and (tmp_path / entry.file).stat().st_size > 0
            assert gate_verdict(entry, None) in ("pass", "fail")
    assert {e.file for e in manifest.files} == set(files)
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["model"] == name
    # its card, as the Hub would take it, and what `card.publish --dry-run` stages
    card = ModelCard(render_card(name, tmp_path))
    validate_card(card)
    assert card.data.base_model == (None if hub_id == "folder" else hub_id)
    assert publish_main(["--model", name, "--repo-id", "alice/mine", "--artifacts", str(tmp_path),
                         "--dry-run", str(tmp_path / "stage")]) == 0
    staged = json.loads((tmp_path / "stage" / "config.json").read_text())
    assert len(staged["id2label"]) == len(resolve(name).labels)
    assert (tmp_path / "stage" / ("int8.pt" if "int8.pt" in files else "onnx/model.onnx")).exists()


@pytest.mark.slow
@pytest.mark.parametrize("hub_id", [*IDS, "folder"])
def test_bench_times_a_users_model(user_models, folder, hub_id, tmp_path):
    name = str(folder) if hub_id == "folder" else hub_id
    report = bench(BenchConfig(name, variants=("eager-fp32",), batches=(1,), warmup=1, threads=1, limit=4,
                               builds=tmp_path))
    (row,) = report.results
    assert row.status == "ok" and row.p50_ms > 0 and report.config["model"] == name


def test_where_the_weights_came_from_in_words():
    from vitspace.models.loading import weights_line
    assert weights_line({"someone/vit-pets-384": "cache", "./my-vit": "local"}) == (
        "Weights: **someone/vit-pets-384** from the local Hugging Face cache; **./my-vit** from a local folder.")
