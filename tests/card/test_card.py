"""vitspace.card.build and .context: model cards rendered from templates/modelcard.md for a compress build.

One tiny architecture-only build of deit-tiny-cifar10 (an int8 .ptl, fidelity on 2 images) is shared;
variants of its manifest (pretrained, other models, failed files) are written beside it.
"""
import json
import re
import shutil
from pathlib import Path

import jinja2
import pytest
from huggingface_hub import ModelCard, ModelCardData, metadata_load

from vitspace.card import build as card
from vitspace.card.__main__ import main as card_main
from vitspace.card.context import card_context
from vitspace.card.hub_rules import validate_card
from vitspace.compress.manifest import MANIFEST
from vitspace.errors import CardError, CardMetadataError
from vitspace.train import record as trainlog

MODEL = "deit-tiny-cifar10"
SECTIONS = ("## Model details", "## Files", "## Fidelity and accuracy", "## Benchmark", "## How to use",
            "## Training recipe", "## Limitations", "## Citation", "### How it was distilled",
            "### Variants that did not build", "### The embedded teacher and students")
BENCHMARK = {"machine": {"cpu": "Test CPU 9000", "cores": 2, "torch": "2.14.1"},
             "results": [{"variant": "int8-mobile.ptl", "runtime": "lite interpreter", "peer": False,
                          "batch": 1, "p50_ms": 3.21, "p90_ms": 4.5, "mean_ms": 3.4, "images_per_s": 294.1,
                          "size_bytes": 3093939, "agreement": 1.0, "status": "ok"},
                         {"variant": "openvino-int8", "runtime": "openvino (CPU), NNCF int8", "peer": True,
                          "batch": 1, "p50_ms": 2.5, "p90_ms": 2.7, "mean_ms": 2.6, "images_per_s": 384.6,
                          "size_bytes": None, "agreement": 0.99, "status": "ok"},
                         {"variant": "openvino-bf16", "runtime": "openvino (CPU)", "peer": True, "batch": 1,
                          "p50_ms": None, "p90_ms": None, "mean_ms": None, "images_per_s": None, "size_bytes": None,
                          "agreement": None, "status": "skipped", "note": "openvino is not installed"}]}
TRAINING = {"model": MODEL, "labels": [], "pretrained_cfg": {}, "params": 5_524_756,
            "train_config": {"model": MODEL, "data": "/private/cifar10", "out": "runs/deit", "epochs": 30,
                             "batch_size": 256, "opt": "adamw", "lr": 0.001, "min_lr": 1e-05, "weight_decay": 0.05,
                             "warmup_epochs": 3.0, "label_smoothing": 0.1, "distillation": "hard", "alpha": 0.5,
                             "tau": 1.0, "teacher": "/private/teacher.safetensors", "teacher_model": "resnet9-cifar10",
                             "bf16": True, "seed": 0, "threads": None, "limit_train": None, "limit_test": None},
            "metrics": {"test_top1": 0.8812, "epochs_done": 30, "epochs": 30, "complete": True,
                        "train_seconds": 7200.0, "mean_images_per_s": 1234.5, "test_images": 10000},
            "history": []}


@pytest.fixture(scope="module")
def build(tiny_build):
    return tiny_build


@pytest.fixture(scope="module")
def manifest(build):
    return json.loads((build / MANIFEST).read_text())


def _variant(tmp_path: Path, build: Path, **changes) -> Path:
    """A copy of the build whose manifest has CHANGES (top-level keys, or files=[...])."""
    out = tmp_path / "variant"
    shutil.copytree(build, out)
    data = {**json.loads((build / MANIFEST).read_text()), **changes}
    (out / MANIFEST).write_text(json.dumps(data))
    return out


def _pretrained(tmp_path: Path, build: Path, manifest: dict) -> Path:
    files = [dict(f, fidelity=dict(f["fidelity"], accuracy=0.5)) for f in manifest["files"]]
    files.append({"file": "model.pte", "format": "executorch", "runtime": "executorch.runtime (XNNPACK)",
                  "precision": "fp32", "status": "failed",
                  "reason": "MissingBackendError: executorch is not installed"})
    return _variant(tmp_path, build, pretrained=True, origin="embedded", eager_accuracy=0.5,
                    images={"source": "eval-data /private/data/cifar10-test", "count": 2, "calibration": 2},
                    files=files)


def _assert_clean(text: str) -> None:
    for bad in ("{{", "{%", "None", "TODO", "[More Information Needed]", "\n\n\n"):
        assert bad not in text, bad


def test_card_parses_with_the_right_metadata(build, tmp_path):
    text = card.render_card(MODEL, build)
    data = ModelCard(text).data
    assert isinstance(data, ModelCardData)
    assert data.license == "apache-2.0" and data.pipeline_tag == "image-classification"
    assert data.library_name is None, "no library the Hub knows loads a .ptl"
    assert data.datasets == ["uoft-cs/cifar10"]
    assert {"vitspace", "deit", "pytorch-mobile", "int8", "random-weights"} <= set(data.tags)
    assert data.base_model is None and data.eval_results is None, "random weights: no accuracy to index"
    path = tmp_path / "README.md"
    path.write_text(text)
    assert metadata_load(path)["pipeline_tag"] == "image-classification"
    assert ModelCard.load(path).data.to_dict() == data.to_dict()


def test_card_carries_the_manifests_numbers(build, manifest):
    text = card.render_card(MODEL, build)
    (entry,) = manifest["files"]
    assert f"`{entry['file']}`" in text
    assert f"{entry['size_bytes']} bytes" in text and f"{entry['size_bytes'] / 1e6:.2f} MB" in text
    assert entry["sha256"][:16] in text
    assert f"| {entry['fidelity']['top1_agreement']:.1%} |" in text
    assert f"{entry['fidelity']['max_abs_logit_diff']:.3g}" in text
    assert "run on 2 images (examples)" in text
    assert "_save_for_lite_interpreter" in text, "the passes that ran"


def test_architecture_only_card_says_so_and_leaves_out_what_it_lacks(build):
    text = card.render_card(MODEL, build)
    _assert_clean(text)
    assert text.splitlines()[text.splitlines().index("---", 1) + 2] == "# deit-tiny-cifar10 (architecture only)"
    assert "**Architecture only.**" in text and "random weights" in text
    for present in ("## Model details", "## Files", "## Fidelity and accuracy", "## How to use", "## Limitations",
                    "## Citation"):
        assert present in text
    for absent in ("## Benchmark", "## Training recipe", "### How it was distilled", "### Variants that did not build",
                   "### The embedded teacher and students", trainlog.CURVES_FILE, "Download a file",
                   "top-1 accuracy |", "Parameters:", "Base model"):
        assert absent not in text, absent
    assert "```kotlin" in text and "LiteModuleLoader.load" in text and "int8-mobile.ptl" in text
    assert "class token and a distillation token" in text
    assert "An Image is Worth 16x16 Words" in text and "distillation through attention" in text
    assert "@inproceedings{touvron2021training," in text


def test_full_card_with_training_benchmark_and_accuracy(build, manifest, tmp_path):
    artifacts = _pretrained(tmp_path, build, manifest)
    weights = tmp_path / "deit.json"
    weights.write_text(json.dumps(TRAINING))
    text = card.render_card(MODEL, artifacts, BENCHMARK, repo_id="alice/deit-tiny", weights_json=weights)
    _assert_clean(text)
    for section in SECTIONS:
        assert section in text, section
    assert "(architecture only)" not in text and "random-weights" not in text

    data = ModelCard(text).data
    assert data.metrics == ["accuracy"] and data.model_name == MODEL
    values = {r.metric_name: r.metric_value for r in data.eval_results}
    assert values == {"Top-1 accuracy (eager fp32)": 0.8812, "Top-1 accuracy (int8-mobile.ptl)": 0.5}
    assert data.eval_results[0].dataset_type == "uoft-cs/cifar10" and data.eval_results[0].dataset_split == "test"

    assert "88.1% on 10,000 CIFAR-10 test images" in text and "5,524,756" in text
    assert "hard: the distillation head learns the teacher's top-1 label" in text and "`resnet9-cifar10`" in text
    assert "| teacher_model | resnet9-cifar10 |" in text and "| epochs | 30 |" in text
    assert "/private" not in text, "local paths stay out of the card"
    assert "- **cpu:** Test CPU 9000" in text
    assert "| int8-mobile.ptl | lite interpreter |  | 1 | 3.21 | 4.50 | 3.40 | 294.1 | 3.09 MB | 100.0% |" in text
    assert "| openvino-int8 | openvino (CPU), NNCF int8 | peer | 1 | 2.50 | 2.70 | 2.60 | 384.6 |  | 99.0% |" in text
    assert "openvino-bf16" not in text, "a skipped peer is not a result"
    agreement = manifest["files"][0]["fidelity"]["top1_agreement"]  # random int8 weights: 50% or 100% of 2 images
    assert re.search(rf"^\| `int8-mobile.ptl` \| {agreement:.1%} \|.* \| 50.0% \|$", text, re.M), "agreement, accuracy"
    assert "`model.pte`: MissingBackendError" in text
    assert 'hf_hub_download("alice/deit-tiny", "int8-mobile.ptl", local_dir=".")' in text
    assert "with Optimum" not in text, "no ONNX or OpenVINO file: no Optimum snippet"
    assert trainlog.table(trainlog.embedded()) in text, "the committed teacher and students, as the README has them"
    assert f"]({trainlog.CURVES_FILE})" in text
    validate_card(text)


def test_hub_vit_card_names_its_base_model_and_cites_vit_only(build, tmp_path):
    artifacts = _variant(tmp_path, build, model="vit-base", pretrained=True, input_shape=[1, 3, 224, 224])
    text = card.render_card("vit-base", artifacts)
    _assert_clean(text)
    data = ModelCard(text).data
    assert data.base_model == "google/vit-base-patch16-224" and data.datasets == ["ILSVRC/imagenet-1k"]
    assert "An Image is Worth 16x16 Words" in text and "distillation through attention" not in text
    assert "### How it was distilled" not in text and "## Training recipe" not in text
    assert "1000 classes" in text and "224x224 (bilinear)" in text
    assert "(1, 3, 224, 224)" in text


def test_hub_deit_card_describes_its_distillation(build, tmp_path):
    artifacts = _variant(tmp_path, build, model="deit-tiny", pretrained=True, input_shape=[1, 3, 224, 224])
    text = card.render_card("deit-tiny", artifacts)
    assert "### How it was distilled" in text and "RegNetY-16GF" in text and "hard:" in text
    assert "center-crop 224x224" in text


def test_convnet_card_has_no_citation(build, tmp_path):
    artifacts = _variant(tmp_path, build, model="resnet9-cifar10")
    text = card.render_card("resnet9-cifar10", artifacts)
    _assert_clean(text)
    assert "## Citation" not in text and "distillation token" not in text and "a convolutional network" in text


def test_template_uses_only_variables_the_context_defines(build, manifest, tmp_path):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    template = env.from_string(card.TEMPLATE.read_text())
    weights = tmp_path / "deit.json"
    weights.write_text(json.dumps(TRAINING))
    for ctx in (card_context(MODEL, build),
                card_context(MODEL, _pretrained(tmp_path, build, manifest), BENCHMARK, repo_id="a/b",
                             weights_json=weights)):
        data = ctx.hub_metadata()
        template.render(card_data=data.to_yaml(), **{**data.to_dict(), **ctx.template_vars()})  # as from_template


@pytest.mark.parametrize("front, problem", [
    ("license: not-a-license\npipeline_tag: image-classification", "license"),
    ("license: apache-2.0\npipeline_tag: classify-images", "pipeline_tag"),
    ("license: apache-2.0\npipeline_tag: image-classification\ntags:\n- ok\n- 3", "tags"),
    ("license: other\npipeline_tag: image-classification", "license_name"),
])
def test_metadata_the_hub_would_reject_is_refused(front, problem):
    with pytest.raises(CardMetadataError, match=problem):
        validate_card(f"---\n{front}\n---\n# card\n")


def test_missing_or_foreign_artifacts_are_clear_errors(build, tmp_path):
    with pytest.raises(CardError, match="manifest.json not found"):
        card.render_card(MODEL, tmp_path)
    with pytest.raises(CardError, match="holds a build of deit-tiny-cifar10, not vit-tiny-cifar10"):
        card.render_card("vit-tiny-cifar10", build)
    with pytest.raises(CardError, match="benchmark"):
        card.render_card(MODEL, build, {"results": "fast"})
    with pytest.raises(CardError, match="the benchmark measured deit-base, not deit-tiny-cifar10"):
        card.render_card(MODEL, build, {**BENCHMARK, "config": {"model": "deit-base"}})


def test_command_line_prints_writes_and_keeps_an_existing_readme(build, tmp_path, capsys):
    assert card_main(["--model", MODEL, "--artifacts", str(build)]) == 0
    printed = capsys.readouterr().out
    assert printed == card.render_card(MODEL, build)

    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(BENCHMARK))
    out = tmp_path / "README.md"
    assert card_main(["--model", MODEL, "--artifacts", str(build), "--benchmark", str(bench), "--out", str(out)]) == 0
    assert "## Benchmark" in out.read_text() and ModelCard.load(out).data.license == "apache-2.0"

    out.write_text("# my own README\n")
    assert card_main(["--model", MODEL, "--artifacts", str(build), "--out", str(out)]) == 2
    assert out.read_text() == "# my own README\n" and "--force" in capsys.readouterr().err
    assert card_main(["--model", MODEL, "--artifacts", str(tmp_path / "nothing")]) == 2


def test_card_preview_returns_markdown_and_a_file_to_download(build):
    text, path = card.card_preview(MODEL, build)
    assert path == build / "card" / "README.md" and path.read_text() == text
    assert not (path.parent / trainlog.CURVES_FILE).exists(), "random weights have no training curves"
    assert re.match(r"---\n", text) and "# deit-tiny-cifar10" in text


def test_card_preview_of_trained_weights_puts_the_curves_beside_the_readme(build, manifest, tmp_path):
    artifacts = _pretrained(tmp_path, build, manifest)
    text, path = card.card_preview(MODEL, artifacts)
    curves = path.parent / trainlog.CURVES_FILE
    assert f"]({trainlog.CURVES_FILE})" in text and curves.read_bytes() == trainlog.CURVES.read_bytes()


def test_a_run_that_changed_its_distillation_says_which_epochs_had_which(build, manifest, tmp_path):
    artifacts = _pretrained(tmp_path, build, manifest)
    parts = [{"epochs": [1, 4], "distillation": None}, {"epochs": [5, 6], "distillation": "hard"},
             {"epochs": [7, 24], "distillation": "soft, tau 3"}]  # None: an epoch logged before modes were
    training = {**TRAINING, "train_config": {**TRAINING["train_config"], "distillation": "soft", "tau": 3.0},
                "metrics": {**TRAINING["metrics"], "parts": parts}}
    weights = tmp_path / "deit.json"
    weights.write_text(json.dumps(training))
    text = card.render_card(MODEL, artifacts, weights_json=weights)
    _assert_clean(text)
    assert "KL divergence at temperature 3.0" in text
    assert "- **By epoch:** hard for epochs 5-6; soft, tau 3 for epochs 7-24 (the run changed its mode" in text
    weights.write_text(json.dumps(TRAINING))
    assert "By epoch" not in card.render_card(MODEL, artifacts, weights_json=weights)


def test_a_card_for_some_of_the_files_shows_those_only(build, manifest, tmp_path):
    files = [dict(manifest["files"][0], file="int8.pt", format="torchscript"), *manifest["files"]]
    artifacts = _variant(tmp_path, build, files=files)
    shutil.copy(build / "int8-mobile.ptl", artifacts / "int8.pt")
    text = card.render_card(MODEL, artifacts, files=["int8.pt"])
    assert "| `int8.pt` |" in text and "int8-mobile.ptl" not in text and "torch.jit.load" in text
    with pytest.raises(CardError, match="not built, so not publishable: model.onnx"):
        card.render_card(MODEL, artifacts, files=["model.onnx"])
