"""A model is a registered name, a Hugging Face Hub id or a folder: `resolve` makes each a ModelSpec.

- a name from the registry (`python -m vitspace.models` lists them): `deit-tiny-cifar10`, `vit-base`;
- a Hub id, with a revision after `@` if wanted (timm's `hf-hub:` prefix is accepted too):
  `someone/vit-finetuned-pets`, `someone/vit-finetuned-pets@v2`, `timm/deit_small_distilled_patch16_224.fb_in1k`;
- a folder holding a saved transformers model (`save_pretrained`) or timm checkpoint (`save_for_hf`): `./my-vit`.

Resolving reads the model's config.json (and its image processor's settings) only, so an unsupported
model is refused before any weights are fetched; the weights come when the model is loaded.
"""
import json
import re
from dataclasses import replace
from pathlib import Path

import torch

from ..errors import UnknownModelError, UnsupportedModelError
from ..util.once import Memo
from .hf import HFLogits
from .hub import hub_file
from .registry import ModelSpec, get_spec, list_models

__all__ = ["resolve", "SUPPORTED", "NAMING", "TRANSFORMERS_CLASSES"]

# transformers classes by architecture name, and the family each belongs to
TRANSFORMERS_CLASSES = {"ViTForImageClassification": "vit", "DeiTForImageClassification": "deit",
                        "DeiTForImageClassificationWithTeacher": "deit"}
SUPPORTED = ("transformers ViTForImageClassification, DeiTForImageClassification and "
             "DeiTForImageClassificationWithTeacher; timm vision_transformer and deit models (VisionTransformer, "
             "VisionTransformerDistilled)")
NAMING = ("a registered name (`python -m vitspace.models` lists them), a Hugging Face Hub id (owner/name, "
          "owner/name@revision) or a folder with a saved model")
_HUB_ID = re.compile(r"(?:hf-hub:)?(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?")
_PATH_START = (".", "/", "~")


def resolve(name: str) -> ModelSpec:
    """The spec of a registered name, a Hub id or a folder; resolved once per process.

    Raises:
        UnknownModelError: the name is none of the three, or the Hub has no such repository or revision.
        UnsupportedModelError: the model is not a ViT or DeiT image classifier vitspace can run.
        WeightsUnavailableError: a Hub model whose config is not cached here while the Hub is unreachable.
    """
    name = str(name)
    if name in list_models():
        return get_spec(name)
    folder = Path(name).expanduser()
    key = str(folder.resolve()) if folder.is_dir() else name  # `./my-vit` is the folder it names now
    return _resolved.get(key, lambda: _resolve(name))


_resolved = Memo()


def _resolve(name: str) -> ModelSpec:
    path = Path(name).expanduser()
    if path.is_dir():
        return _from_folder(name, path.resolve())
    hub = _HUB_ID.fullmatch(name)
    if hub and not name.startswith(_PATH_START):
        return _from_hub(name, hub["repo"], hub["revision"])
    if name.startswith(_PATH_START) or path.exists():
        raise UnknownModelError(f"{name}: no such folder. A model is {NAMING}.")
    raise UnknownModelError(f"unknown model {name!r}: a model is {NAMING}; registered: {', '.join(list_models())}")


# --- where the files are ------------------------------------------------------------------------

def _from_folder(name: str, folder: Path) -> ModelSpec:
    config = folder / "config.json"
    if not config.is_file():
        raise UnsupportedModelError(f"{name} holds no config.json: save a transformers model with "
                                    "`save_pretrained` or a timm model with `timm.models.save_for_hf`")
    processor, readme = folder / "preprocessor_config.json", folder / "README.md"
    return _spec(name, config, processor if processor.is_file() else None, readme if readme.is_file() else None,
                 source="local", folder=folder)


def _from_hub(name: str, repo_id: str, revision: str | None) -> ModelSpec:
    try:
        config = hub_file(repo_id, "config.json", revision)
    except UnsupportedModelError as e:  # no config.json
        raise UnsupportedModelError(f"{e}. vitspace supports {SUPPORTED}.") from None
    processor = hub_file(repo_id, "preprocessor_config.json", revision, required=False)
    readme = hub_file(repo_id, "README.md", revision, required=False)  # its card: the license
    return _spec(name, config, processor, readme, source="hub", repo_id=repo_id, revision=revision)


def _read_json(path: Path, name: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UnsupportedModelError(f"{name}: {path.name} cannot be read as JSON ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise UnsupportedModelError(f"{name}: {path.name} is not a JSON object")
    return data


def _card_license(readme: Path | None) -> str | None:
    """The license its model card declares in its metadata; None without one."""
    if readme is None:
        return None
    from huggingface_hub import ModelCard
    try:
        return ModelCard.load(readme).data.license
    except (OSError, ValueError, UnicodeDecodeError):  # a card that is not readable says nothing
        return None


# --- what the config says -----------------------------------------------------------------------

def _spec(name: str, config_file: Path, processor: Path | None, readme: Path | None, **where) -> ModelSpec:
    config = _read_json(config_file, name)
    if "architecture" in config:
        spec = _timm_spec(name, config, config_file.parent, **where)
    elif "model_type" in config:
        spec = _transformers_spec(name, config, processor, **where)
    else:
        raise UnsupportedModelError(f"{name}: its config.json is neither a transformers nor a timm config. "
                                    f"vitspace supports {SUPPORTED}.")
    return replace(spec, license=_card_license(readme) or spec.license)  # the card's word first


def _origin(source: str, repo_id: str | None, revision: str | None, folder: Path | None) -> str:
    if source == "local":
        return f"the folder {folder.name}"
    return f"{repo_id}@{revision}" if revision else repo_id


def _transformers_spec(name: str, config: dict, processor: Path | None, **where) -> ModelSpec:
    arch = (config.get("architectures") or [None])[0]
    family = TRANSFORMERS_CLASSES.get(arch)
    if family is None or config.get("model_type") not in ("vit", "deit"):
        kind = f"a {config.get('model_type')} model" + (f" ({arch})" if arch else "")
        raise UnsupportedModelError(f"{name} is {kind}, not a ViT or DeiT image classifier. "
                                    f"vitspace supports {SUPPORTED}.")
    id2label = config.get("id2label") or {}
    labels = tuple(str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(len(id2label)))
    size = config.get("image_size", 224)
    size = size if isinstance(size, int) else size[-1]
    settings, preprocessing = _processor_settings(processor, family, size,
                                                  "folder" if where.get("folder") else "repository")

    def build():
        import transformers
        cfg = dict(config)
        return HFLogits(getattr(transformers, arch)(transformers.AutoConfig.for_model(cfg.pop("model_type"), **cfg)))

    return ModelSpec(name, family, where["source"], build, f"{arch} from {_origin(**_where(where))}",
                     where.get("repo_id"), processor=settings, labels=labels, input_size=size,
                     library="transformers", revision=where.get("revision"), folder=where.get("folder"),
                     preprocessing=preprocessing, license=config.get("license"))


def _where(where: dict) -> dict:
    return {k: where.get(k) for k in ("source", "repo_id", "revision", "folder")}


def _processor_settings(path: Path | None, family: str, size: int, where: str) -> tuple[dict, str]:
    """The image processor as `{"class": ..., **settings}`, and where it came from, in words."""
    if path is not None:
        data = json.loads(path.read_text())
        cls = data.pop("image_processor_type", None) or data.pop("feature_extractor_type", "")
        cls = cls.replace("FeatureExtractor", "ImageProcessor")
        return {"class": cls or f"{'DeiT' if family == 'deit' else 'ViT'}ImageProcessor", **data}, \
            f"the {where}'s {path.name}"
    cls = "DeiTImageProcessor" if family == "deit" else "ViTImageProcessor"
    # no processor saved: the architecture's image processor at the model's input size, said as such
    settings = {"class": cls, "size": {"height": size, "width": size}}
    if family == "deit":
        settings |= {"crop_size": {"height": size, "width": size}, "do_center_crop": False}
    return settings, f"{cls} defaults at {size}px (the model has no preprocessor_config.json)"


def _timm_spec(name: str, config: dict, config_dir: Path, **where) -> ModelSpec:
    import timm
    from timm.models.vision_transformer import VisionTransformer

    arch = config["architecture"]
    def build():  # timm reads config.json itself: architecture, model_args, pretrained_cfg
        return timm.create_model(f"local-dir:{config_dir}", pretrained=False)

    try:
        with torch.device("meta"):  # shapes only: which class, how many tokens
            model = build()
    except RuntimeError:  # timm: Unknown model
        raise UnsupportedModelError(f"{name}: timm has no architecture {arch!r}. "
                                    f"vitspace supports {SUPPORTED}.") from None
    if not isinstance(model, VisionTransformer):
        raise UnsupportedModelError(f"{name} is a timm {type(model).__name__} ({arch}), not a ViT or DeiT. "
                                    f"vitspace supports {SUPPORTED}.")
    family = "deit" if getattr(model, "dist_token", None) is not None else "vit"
    cfg = {**config.get("pretrained_cfg", {})}
    data_cfg = {k: cfg[k] for k in ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
                if k in cfg}
    data_cfg.setdefault("input_size", (3, *model.patch_embed.img_size))
    labels = _timm_labels(config, model.num_classes)

    return ModelSpec(name, family, where["source"], build, f"timm {arch} from {_origin(**_where(where))}",
                     where.get("repo_id"), data_cfg=data_cfg, labels=labels, input_size=data_cfg["input_size"][-1],
                     library="timm", revision=where.get("revision"), folder=where.get("folder"),
                     preprocessing=f"timm's pretrained_cfg of {_origin(**_where(where))}",
                     license=cfg.get("license") or config.get("license"))


def _timm_labels(config: dict, num_classes: int) -> tuple[str, ...]:
    names = config.get("label_names") or config.get("pretrained_cfg", {}).get("label_names")
    if names and len(names) == num_classes:
        return tuple(str(n) for n in names)
    from timm.data import ImageNetInfo, infer_imagenet_subset
    subset = infer_imagenet_subset(config.get("pretrained_cfg", {})) if num_classes in (1000, 11821, 21841, 21843) \
        else None
    if subset:
        info = ImageNetInfo(subset)
        return tuple(info.index_to_description(i) for i in range(num_classes))
    return tuple(f"LABEL_{i}" for i in range(num_classes))
