"""Cards and publishing for a user's own model (issue 22): a Hub id (transformers or timm) or a local folder.

One small build (fp32.pt + int8.pt, fidelity on 4 images) of each of three models from the fake Hub cache of
tests/support/hubcache.py is shared by the module; the card of each names its source, labels, license and
preprocessing, and claims no data set, teacher or license the source does not declare.
"""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, constants
from support.hubcache import FLOWERS, PETS, build_user_cache, save_user_model

from vitspace.card import build as card
from vitspace.card import context
from vitspace.card.hub_rules import validate_card
from vitspace.card.publish import main as publish_main
from vitspace.compress.manifest import MANIFEST
from vitspace.errors import CardMetadataError
from vitspace.models.resolve import resolve

VIT = "someone/vit-pets-384"                                # transformers ViT, 384 px, 3 labels, license mit
TIMM = "timm/deit_tiny_distilled_patch16_224.fb_in1k"       # timm DeiT, 1000 ImageNet labels, apache-2.0
LOCAL = "local"                                             # someone/deit-flowers-teacher saved to a folder
REFUSED = "someone/bert-sentiment"                          # a text model: config.json only
FILES = ("fp32.pt", "int8.pt")
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The fake Hub cache of users' models, in use for the module: HF_HUB_CACHE and huggingface_hub's copy of it
    (read when huggingface_hub is imported)."""
    root = tmp_path_factory.mktemp("own-models")
    hub = build_user_cache(root / "hf-cache", ids=(VIT, TIMM, REFUSED))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(hub))
        mp.setattr(constants, "HF_HUB_CACHE", str(hub))
        yield root


@pytest.fixture(scope="module")
def builds(cache):
    """MODEL -> (the name it is built and carded under, its build folder), built once."""
    import torch

    from vitspace.classify.classifier import get_classifier
    from vitspace.compress.build import CompressConfig, compress
    names = {VIT: VIT, TIMM: TIMM, LOCAL: str(save_user_model("someone/deit-flowers-teacher", cache / "my-deit"))}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine
    try:
        out = {}
        for key, name in names.items():
            folder = cache / "builds" / key.replace("/", "--")
            compress(get_classifier(name), CompressConfig(name, folder, files=FILES, limit=4))
            out[key] = (name, folder)
    finally:
        torch.set_num_threads(threads)
    return out


def _card(builds, key: str) -> tuple[str, ModelCard]:
    name, folder = builds[key]
    text = card.render_card(name, folder)
    return text, ModelCard(text)


def _dry_run(model: str, artifacts: Path, stage: Path) -> tuple[str, dict]:
    """`python -m vitspace.card.publish --dry-run STAGE`: (the staged README.md, the staged vitspace.json)."""
    assert publish_main(["--model", model, "--repo-id", "alice/own-model", "--artifacts", str(artifacts),
                         "--dry-run", str(stage)]) == 0
    return (stage / "README.md").read_text(), json.loads((stage / "vitspace.json").read_text())


def _copy(build: Path, dest: Path, **changes) -> Path:
    """A copy of BUILD whose manifest has CHANGES (top-level keys)."""
    shutil.copytree(build, dest)
    manifest = json.loads((dest / MANIFEST).read_text())
    (dest / MANIFEST).write_text(json.dumps({**manifest, **changes}, indent=2))
    return dest


def _labels_line(labels) -> str:
    return "- **Labels:** " + ", ".join(f"{i} {label}" for i, label in enumerate(labels)) + "\n"


@slow
@pytest.mark.parametrize("key, base_model, license, labels, citations", [
    (VIT, VIT, "mit", _labels_line(PETS.values()), ("16x16 Words",)),
    (TIMM, TIMM, "apache-2.0", "- **Labels:** 1000 classes: their names are `id2label` in `config.json`",
     ("16x16 Words", "distillation through attention")),
    (LOCAL, None, None, _labels_line(FLOWERS.values()), ("16x16 Words", "distillation through attention")),
], ids=("hub-transformers", "hub-timm", "local-folder"))
def test_card_names_its_source_labels_license_and_preprocessing(builds, key, base_model, license, labels, citations):
    name, _ = builds[key]
    text, parsed = _card(builds, key)
    validate_card(text)  # what the Hub would accept: hub_rules
    data = parsed.data.to_dict()
    assert data.get("base_model") == base_model
    assert data.get("base_model_relation") == ("quantized" if base_model else None), "int8.pt built"
    assert data.get("license") == license and ("license" in data) == (license is not None), "absent, not invented"
    assert "datasets" not in data and "imagenet" not in data["tags"], "no data set the model does not declare"
    assert data["pipeline_tag"] == "image-classification" and {"int8", "torchscript"} <= set(data["tags"])
    assert labels in text
    spec = resolve(name)
    assert f"Inputs are preprocessed as for the original model (settings: {spec.preprocessing}):\n" in text
    assert all(c in text for c in citations) and ("distillation through attention" in text) == (len(citations) == 2)
    assert "RegNetY" not in text and "ImageNet-1k's 1000 classes" not in text and "vitspace on CIFAR-10" not in text
    assert "None" not in text and "{{" not in text


@slow
def test_a_local_folder_is_named_by_its_name_never_its_path(builds):
    name, _ = builds[LOCAL]
    text, parsed = _card(builds, LOCAL)
    assert parsed.data.base_model is None and "base_model_relation" not in parsed.data.to_dict()
    assert "- **Source:** a local folder, `my-deit`" in text and "# my-deit\n" in text
    assert "- **License:** none declared by the local folder" in text
    assert str(Path(name).parent) not in text, "the folder's path says where the user keeps files"
    assert "Inputs are preprocessed as for the original model (settings: the folder's " \
        "preprocessor_config.json)" in text
    assert "- **Weights:** the local folder's, converted unchanged" in text


@slow
def test_the_card_of_a_build_matches_its_folder_however_it_is_named(builds, monkeypatch):
    name, folder = builds[LOCAL]
    monkeypatch.chdir(Path(name).parent)
    assert "# my-deit\n" in card.render_card("./my-deit", folder)  # built as an absolute path


@slow
def test_a_revision_is_in_the_text_and_vitspace_json_not_in_base_model(builds, tmp_path):
    pinned = _copy(builds[VIT][1], tmp_path / "pinned", model=f"{VIT}@main")
    text, config = _dry_run(f"{VIT}@main", pinned, tmp_path / "stage")
    assert ModelCard(text).data.base_model == VIT and "at revision `main`" in text
    assert (config["base_model"], config["revision"]) == (VIT, "main")


@slow
def test_publish_dry_run_stages_the_base_model_labels_and_preprocessing(builds, tmp_path, capsys):
    _, folder = builds[VIT]
    stage = tmp_path / "stage"
    readme, config = _dry_run(VIT, folder, stage)
    assert "dry run" in capsys.readouterr().out
    assert sorted(p.name for p in stage.iterdir()) == sorted(["README.md", "config.json", "preprocessor_config.json",
                                                              "vitspace.json", MANIFEST, *FILES, ".vitspace.json"])
    assert readme.startswith("---\nbase_model: someone/vit-pets-384\n")
    meta = ModelCard(readme).data
    assert (meta.license, meta.base_model_relation) == ("mit", "quantized")
    assert config["id2label"] == {str(i): label for i, label in PETS.items()} and config["num_labels"] == 3
    assert (config["base_model"], config["revision"], config["source"], config["library"]) == \
        (VIT, None, "hub", "transformers")
    assert config["preprocessing"]["class"] == "ViTImageProcessor"
    assert config["preprocessing"]["size"] == {"height": 384, "width": 384}
    assert config["preprocessing_source"] == "the repository's preprocessor_config.json"
    assert (stage / MANIFEST).read_bytes() == (folder / MANIFEST).read_bytes(), "no local path in it: as built"
    loaders = json.loads((stage / "config.json").read_text())  # the model's own transformers config
    assert (loaders["model_type"], loaders["architectures"], loaders["image_size"]) == \
        ("vit", ["ViTForImageClassification"], 384)
    assert json.loads((stage / "preprocessor_config.json").read_text())["image_processor_type"] == "ViTImageProcessor"


@slow
def test_timm_config_carries_its_data_config_and_all_its_labels(builds, tmp_path):
    _, folder = builds[TIMM]
    _, config = _dry_run(TIMM, folder, tmp_path / "stage")
    loaders = json.loads((tmp_path / "stage" / "config.json").read_text())  # the model's own timm config
    assert loaders["architecture"] == "deit_tiny_distilled_patch16_224" and loaders["model_args"]["depth"] == 2
    assert loaders["id2label"] == config["id2label"] and not (tmp_path / "stage" / "preprocessor_config.json").exists()
    assert len(config["id2label"]) == 1000 == config["num_labels"]
    assert config["id2label"]["0"] == resolve(TIMM).labels[0]
    assert config["preprocessing"]["library"] == "timm" and config["preprocessing"]["input_size"] == [3, 224, 224]
    assert config["preprocessing_source"] == f"timm's pretrained_cfg of {TIMM}" and config["license"] == "apache-2.0"


@slow
def test_a_published_local_model_holds_no_local_path(builds, tmp_path):
    name, folder = builds[LOCAL]
    stage = tmp_path / "stage"
    readme, config = _dry_run(name, folder, stage)
    for f in ("README.md", "config.json", "preprocessor_config.json", "vitspace.json", MANIFEST):
        assert str(Path(name).parent) not in (stage / f).read_text(), f
    assert (config["model"], config["source"], config["base_model"], config["license"]) == \
        ("my-deit", "local", None, None)
    assert config["id2label"] == {str(i): label for i, label in FLOWERS.items()}
    assert config["preprocessing"]["class"] == "DeiTImageProcessor"
    assert json.loads((stage / MANIFEST).read_text())["model"] == "my-deit"
    assert "base_model" not in ModelCard(readme).data.to_dict()


@slow
def test_an_eval_data_folder_is_published_by_its_name(builds, tmp_path):
    _, folder = builds[VIT]
    manifest = json.loads((folder / MANIFEST).read_text())
    images = {**manifest["images"], "source": "eval-data /home/alice/private/pets-val"}
    measured = _copy(folder, tmp_path / "measured", images=images)
    stage = tmp_path / "stage"
    _dry_run(VIT, measured, stage)
    published = json.loads((stage / MANIFEST).read_text())
    assert published == {**manifest, "images": {**images, "source": "eval-data pets-val"}}


@slow
@pytest.mark.parametrize("declared, front", [
    ("MIT", {"license": "mit"}),
    ("other", {"license": "other", "license_name": "base-model-license", "license_link": f"https://huggingface.co/{VIT}"}),
    ("Custom Research License v2", {"license": "other", "license_name": "custom-research-license-v2",
                                    "license_link": f"https://huggingface.co/{VIT}"}),
], ids=("case", "other", "custom"))
def test_a_license_the_hub_does_not_list_is_other_with_a_name_and_a_link(builds, monkeypatch, declared, front):
    name, folder = builds[VIT]
    spec = replace(resolve(name), license=declared)
    monkeypatch.setattr(context, "resolve", lambda model: spec)
    text = card.render_card(name, folder)
    validate_card(text)
    data = ModelCard(text).data.to_dict()
    assert {k: data.get(k) for k in front} == front
    assert f"- **License:** {declared}, as the base model declares it" in text


@slow  # the cache: seconds
def test_publishing_a_model_vitspace_cannot_run_is_a_bad_argument(cache, tmp_path, capsys):
    code = publish_main(["--model", REFUSED, "--repo-id", "alice/bert", "--dry-run", str(tmp_path / "stage")])
    assert code == 2 and "not a ViT or DeiT image classifier" in capsys.readouterr().err
    assert not (tmp_path / "stage").exists(), "refused before anything is built or staged"


# --- the Hub's rules: fast, no build --------------------------------------------------------------

@pytest.mark.parametrize("front", [
    "pipeline_tag: image-classification",   # no license: the source declared none
    f"license: mit\npipeline_tag: image-classification\nbase_model: {VIT}\nbase_model_relation: quantized",
])
def test_metadata_the_hub_accepts(front):
    validate_card(f"---\n{front}\n---\n# card\n")


@pytest.mark.parametrize("front", [
    "pipeline_tag: image-classification\nbase_model: a/b\nbase_model_relation: compressed",
    "pipeline_tag: image-classification\nbase_model_relation: quantized",   # a relation to nothing
])
def test_a_base_model_relation_the_hub_does_not_know_is_refused(front):
    with pytest.raises(CardMetadataError, match="base_model_relation"):
        validate_card(f"---\n{front}\n---\n# card\n")
