"""What a model card draws on: the build's manifest, a benchmark, the weights' training record, the
preprocessing in words, and what may be said of a user's own model (a Hub id or a folder)."""
import json
from pathlib import Path

from ..compress.manifest import MANIFEST, Manifest
from ..errors import CardError
from ..models.registry import ModelSpec, list_models

__all__ = ["load_manifest", "load_benchmark", "load_training", "preprocessing_steps", "own_model", "public_name",
           "public_text", "eval_data_folder"]

_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def load_manifest(artifacts_dir: str | Path) -> Manifest:
    """The build's manifest.json.

    Args:
        artifacts_dir: a compress build.

    Returns:
        The manifest.

    Raises:
        CardError: there is no manifest.json, or it is not a vitspace manifest.
    """
    path = Path(artifacts_dir) / MANIFEST
    if not path.is_file():
        raise CardError(f"{path} not found: build the files first (python -m vitspace.compress --out {artifacts_dir})")
    try:
        return Manifest.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as e:
        raise CardError(f"{path} is not a vitspace manifest: {e}") from e


def load_benchmark(benchmark: str | Path | dict | None) -> dict | None:
    """A benchmark, checked: `{"machine": {...}, "results": [{...}]}`.

    Args:
        benchmark: a JSON file (vitspace.bench), a dict, or None.

    Returns:
        The benchmark as a dict; None for None.

    Raises:
        CardError: the file cannot be read, or it does not have that shape.
    """
    if benchmark is None or isinstance(benchmark, dict):
        data = benchmark
    else:
        try:
            data = json.loads(Path(benchmark).read_text())
        except (OSError, ValueError) as e:
            raise CardError(f"cannot read benchmark {benchmark}: {e}") from e
    if data is not None and not (isinstance(data, dict) and isinstance(data.get("results", []), list)
                                 and isinstance(data.get("machine", {}), dict)):
        raise CardError('a benchmark must be {"machine": {...}, "results": [...]}')
    return data


def load_training(spec: ModelSpec, weights_json: str | Path | None = None) -> dict | None:
    """The training record of an embedded model's weights: their JSON sidecar (vitspace.train.weights).

    Args:
        spec: the model.
        weights_json: the record; None: beside the model's weights file.

    Returns:
        The record (train_config, metrics, params); None for a Hub model, without a record, or when the
        record is half-written.
    """
    path = Path(weights_json) if weights_json else spec.weights_file.with_suffix(".json")
    if spec.source != "embedded" or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a half-written sidecar: the card goes without the recipe


def preprocessing_steps(spec: ModelSpec) -> list[str]:
    """How pixels are prepared, in words, from the Hub processor or the timm data config.

    Args:
        spec: the model.

    Returns:
        One phrase per step; none for a model with neither.
    """
    if spec.processor:
        p = spec.processor
        size = p.get("size", {})
        steps = [f"resize to {size.get('height')}x{size.get('width')} ({_RESAMPLE.get(p.get('resample'), 'bilinear')})"]
        if p.get("do_center_crop") and p.get("crop_size"):
            steps.append(f"center-crop {p['crop_size']['height']}x{p['crop_size']['width']}")
        mean, std = p.get("image_mean"), p.get("image_std")
    elif spec.data_cfg:
        c = spec.data_cfg
        _, h, w = c["input_size"]
        short = round(h / c.get("crop_pct", 1.0))
        steps = [f"resize the shorter side to {short} ({c.get('interpolation', 'bilinear')})",
                 f"{c.get('crop_mode', 'center')}-crop {h}x{w}"]
        mean, std = c.get("mean"), c.get("std")
    else:
        return []
    steps.append("scale to [0, 1]" + (f", subtract mean {tuple(mean)} and divide by std {tuple(std)} per channel"
                                      if mean and std else ""))
    steps.append("float32, channels first: (batch, 3, height, width)")
    return steps


def own_model(spec: ModelSpec) -> bool:
    """Whether SPEC is a user's model (a Hub id or a folder) rather than one vitspace registers: vitspace knows
    its labels and preprocessing, but not the data it was trained on nor how.

    Args:
        spec: the model.

    Returns:
        True for a model that is not in the registry.
    """
    return spec.name not in list_models()


def public_name(spec: ModelSpec) -> str:
    """The model's name as a card or a Hub repository shows it: a local folder by its name, never its path.

    Args:
        spec: the model.

    Returns:
        The registry name or Hub id; a folder's name for a local model.
    """
    return spec.folder.name if spec.source == "local" and spec.folder else spec.name


def public_text(text: str, spec: ModelSpec) -> str:
    """TEXT (a description, where the preprocessing came from) with a local model's folder path replaced by
    the folder's name: the path says where the user keeps files, and a published card has no use for it.

    Args:
        text: a phrase about the model.
        spec: the model.

    Returns:
        The phrase, without the folder's path.
    """
    return text.replace(str(spec.folder), spec.folder.name) if spec.source == "local" and spec.folder else text


def eval_data_folder(source) -> str | None:
    """The folder's name, without its path, of a build's fidelity images from --eval-data.

    Args:
        source: the manifest's images.source: "eval-data PATH", "examples"...

    Returns:
        PATH's last part; None for images that did not come from an image folder.
    """
    source = str(source or "")
    return Path(source[len("eval-data "):]).name if source.startswith("eval-data ") else None
