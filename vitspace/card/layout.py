"""The repository vitspace publishes: where each built file goes, and the configs beside them that the standard
loaders read, so that Optimum's classes open a pushed repository as well as vitspace's own snippets do.

    README.md                       the card
    config.json                     the source model's config (`loader_config`): what the loaders read
    preprocessor_config.json        a transformers model's image processor (`preprocessor_config`)
    onnx/model.onnx, onnx/model-int8.onnx
    openvino/model-int8.xml, openvino/model-int8.bin
    fp32.pt, int8.pt, int8-mobile.ptl, model.pte, ...   every other file at the top, as built
    vitspace.json                   vitspace's own account: labels, preprocessing in words, files, base model
    manifest.json                   the build's manifest (its files by their build names)
    .vitspace.json                  the marker: the card vitspace last pushed

Why so, from the loaders' code (optimum 2.3.0, optimum-onnx 0.1.0, optimum-intel 1.15.0):
- config.json at the top. `OptimizedModel.from_pretrained` (optimum/modeling_base.py:341-382), which the ONNX
  Runtime and the OpenVINO classes share, reads config.json from `subfolder`, else from the top level, and infers the
  library from it (optimum/exporters/tasks.py:943: a key "architecture" or "pretrained_cfg" is timm's, read as a
  plain PretrainedConfig; anything else goes to AutoConfig, which needs a transformers model_type). So a transformers
  model's own config goes there, and a timm model's own (its pretrained_cfg is the preprocessing), with `id2label`
  added so that the loaded config names the labels. The embedded CIFAR-10 models are vitspace's architectures
  (timm's VisionTransformer classes with a convolutional stem, or convnets), which no timm or transformers name
  builds: their config names none, and holds what the loaders read: the timm data config and the labels.
  transformers' AutoImageProcessor reads preprocessor_config.json, or a timm config's pretrained_cfg
  (TimmWrapperImageProcessor), so one preprocessing snippet serves every source.
- ONNX in onnx/. ORTModelForImageClassification (optimum/onnxruntime/modeling.py:368-396) finds `**/*.onnx` under
  `subfolder`, picks `file_name` by its name, model.onnx by default, feeds "pixel_values" and reads "logits"
  (:1316, :1336), the names export/onnx.py gives the graph.
- OpenVINO in openvino/, opened with file_name="openvino/model-int8.xml". OVBaseModel._cached_file
  (optimum/intel/openvino/modeling_base.py:206-235) reads a folder at its path / file_name, `subfolder` ignored, and
  a repository by hf_hub_download of file_name's .bin, then its .xml: a path in file_name works for both.
  OVModelForImageClassification.from_pretrained (optimum/intel/openvino/modeling.py:585) takes a folder with a
  config.json, an .xml and a .bin at its top for a timm export, and asks the Hub about the config's hf_hub_id
  (utils.py:114-131): the IR stays out of the top level and no config vitspace writes has an hf_hub_id. Its forward
  (modeling.py:642-648) feeds "pixel_values" and reads "logits", as export/openvino.py names the IR's tensors.
- TorchScript, ExecuTorch and torch.export files at the top: their own runtimes load one file each, by its path.
"""
import json

import torch

from ..compress.manifest import Manifest
from ..export import VARIANTS
from ..models.hub import hub_file
from ..models.labels import model_labels
from ..models.registry import ModelSpec
from .sources import preprocessing_steps, public_name, public_text

__all__ = ["FOLDERS", "repo_path", "loader_config", "preprocessor_config", "vitspace_config", "library_name",
           "optimum_usage"]

FOLDERS = {"onnx": "onnx", "openvino": "openvino"}   # variant format -> its folder in the repository
_TIMM_KEYS = ("architecture", "pretrained_cfg")      # what makes Optimum read a config as timm's (tasks.py:943)


def repo_path(file: str) -> str:
    """Where a built file (or a companion of one) goes in the repository.

    Args:
        file: its name in the build folder.

    Returns:
        onnx/NAME and openvino/NAME for those formats; NAME for the others.
    """
    variant = VARIANTS.get(file) or next((v for v in VARIANTS.values() if file in v.companions), None)
    folder = FOLDERS.get(variant.format) if variant else None
    return f"{folder}/{file}" if folder else file


def _labels(spec: ModelSpec) -> dict:
    labels = model_labels(spec)
    return {"id2label": {str(i): name for i, name in enumerate(labels)},
            "label2id": {name: i for i, name in enumerate(labels)}}


def loader_config(spec: ModelSpec) -> dict:
    """config.json: the source model's own config, as the loaders read it.

    Args:
        spec: the model.

    Returns:
        A transformers model's config (its model_type, architectures and id2label); a timm model's config.json
        with id2label added; for an embedded model, its timm data config (pretrained_cfg) and labels.
    """
    if spec.library == "transformers":
        with torch.device("meta"):  # the config only: no memory, no weights
            module = spec.build()
        config = json.loads(module.config.to_json_string(use_diff=True))  # as save_pretrained writes it
        return {"architectures": [type(module.hf).__name__], **config}
    if spec.library == "timm":
        path = spec.folder / "config.json" if spec.folder else hub_file(spec.repo_id, "config.json", spec.revision)
        config = json.loads(path.read_text())
        config.pop("hf_hub_id", None)  # would make optimum-intel ask the Hub about it (utils.py:128-129)
        return {**config, **_labels(spec)}
    labels = model_labels(spec)
    return {"num_classes": len(labels), "label_names": labels, "pretrained_cfg": dict(spec.data_cfg), **_labels(spec)}


def preprocessor_config(spec: ModelSpec) -> dict | None:
    """preprocessor_config.json: a transformers model's image processor, as AutoImageProcessor reads it.

    Args:
        spec: the model.

    Returns:
        Its settings with image_processor_type; None for timm and embedded models, whose config.json's
        pretrained_cfg is their preprocessing.
    """
    if not spec.processor:
        return None
    settings = dict(spec.processor)
    return {"image_processor_type": settings.pop("class"), **settings}


def vitspace_config(spec: ModelSpec, manifest: Manifest, files: list[str]) -> dict:
    """vitspace.json: vitspace's own account of the files, beside the config the loaders read (config.json).

    Args:
        spec: the model.
        manifest: its build's manifest.
        files: the published files' paths in the repository.

    Returns:
        The model (a local folder by its name), where it came from (base_model and revision for a Hub model,
        None for a folder), its library and license, its own labels (id2label), the preprocessing (the
        transformers image processor settings or the timm data config; in words; and where they came from),
        input shape and files.
    """
    labels = model_labels(spec)
    preprocessing = {"library": "transformers", **spec.processor} if spec.processor \
        else {"library": "timm", **spec.data_cfg}
    hub = spec.source == "hub"
    return {"model": public_name(spec), "family": spec.family, "source": spec.source,
            "description": public_text(spec.description, spec), "library": spec.library,
            "base_model": spec.repo_id if hub else None, "revision": spec.revision if hub else None,
            "license": spec.license, "pretrained": manifest.pretrained, "input_size": spec.input_size,
            "input_shape": manifest.input_shape, "preprocessing": preprocessing,
            "preprocessing_steps": preprocessing_steps(spec),
            "preprocessing_source": public_text(spec.preprocessing, spec), "num_labels": len(labels),
            "id2label": {str(i): label for i, label in enumerate(labels)}, "files": files}


def library_name(spec: ModelSpec, formats: set[str]) -> str | None:
    """The card's library_name: a library the Hub knows (huggingface.js packages/tasks/src/model-libraries.ts), where
    one applies.

    "transformers" where Optimum loads ONNX or OpenVINO files of a transformers model: the config and the image
    processor are transformers' own, and Optimum's classes are transformers-API classes. None otherwise: the Hub knows
    no library for TorchScript, ExecuTorch or torch.export files (it files ONNX and OpenVINO as formats, not
    libraries), and "timm" would both promise weights timm could load and send optimum-intel's
    OVModelForImageClassification, which asks the Hub for the library (modeling.py:586), down its timm path, which
    rebuilds the model from timm weights.

    Args:
        spec: the model.
        formats: the formats of the files published.

    Returns:
        The library, or None.
    """
    return "transformers" if spec.library == "transformers" and formats & set(FOLDERS) else None


_ONNX = '''from optimum.onnxruntime import ORTModelForImageClassification
from PIL import Image
from transformers import AutoImageProcessor

processor = AutoImageProcessor.from_pretrained("{repo}")  # {preprocessing}
{others}model = ORTModelForImageClassification.from_pretrained("{repo}", subfolder="onnx", file_name="{name}")
inputs = processor(images=Image.open("image.jpg").convert("RGB"), return_tensors="pt")
logits = model(**inputs).logits
print(model.config.id2label[logits.argmax(-1).item()])
'''
_OPENVINO = '''from optimum.intel import OVModelForImageClassification
from PIL import Image
from transformers import AutoImageProcessor

processor = AutoImageProcessor.from_pretrained("{repo}")  # {preprocessing}
# a path in file_name: optimum-intel reads it in a downloaded folder as on the Hub (subfolder= only on the Hub)
{others}model = OVModelForImageClassification.from_pretrained("{repo}", file_name="{path}")
inputs = processor(images=Image.open("image.jpg").convert("RGB"), return_tensors="pt")
logits = model(**inputs).logits
print(model.config.id2label[logits.argmax(-1).item()])
'''
_TITLES = {"onnx": "ONNX Runtime, with Optimum (`pip install optimum-onnx`)",
           "openvino": "OpenVINO, with Optimum (`pip install optimum-intel`)"}


def optimum_usage(spec: ModelSpec, files: list[str], repo: str | None) -> list[dict]:
    """The Optimum snippets of the card, one per format Optimum loads, for the first file of that format.

    Args:
        spec: the model.
        files: the built files published, by their build names, in the registry's order.
        repo: the repository; None: a placeholder.

    Returns:
        Title, language and code per snippet; none where no ONNX or OpenVINO file built.
    """
    repo = repo or "NAMESPACE/NAME"
    preprocessing = "preprocessor_config.json" if spec.processor else "config.json's pretrained_cfg (timm)"
    snippets = []
    for fmt, template in (("onnx", _ONNX), ("openvino", _OPENVINO)):
        mine = [f for f in files if f in VARIANTS and VARIANTS[f].format == fmt]
        if not mine:
            continue
        first, *rest = mine
        name = (lambda f: f) if fmt == "onnx" else repo_path  # ONNX's file_name is a name, OpenVINO's a path
        others = "".join(f'# {repo_path(o)}: file_name="{name(o)}"\n' for o in rest)
        snippets.append({"title": _TITLES[fmt], "lang": "python",
                         "code": template.format(repo=repo, name=first, path=repo_path(first), others=others,
                                                 preprocessing=preprocessing).rstrip()})
    return snippets
