"""Weights: embedded safetensors in this package, a folder, or the Hugging Face Hub and its local cache."""
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import WeightsUnavailableError
from .hf import HFLogits, hf_classes
from .hub import cached_file, hub_file, hub_reachable, offline_reason
from .registry import ModelSpec
from .resolve import TRANSFORMERS_CLASSES

__all__ = ["load_module", "weights_origin", "cached_weights", "weights_line", "ORIGIN_WORDS"]

_HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def cached_weights(spec: ModelSpec) -> Path | None:
    """The cached weights file of a Hub model (config.json beside it), or None."""
    if cached_file(spec.repo_id, "config.json", spec.revision) is None:
        return None
    return next(filter(None, (cached_file(spec.repo_id, w, spec.revision) for w in _HUB_WEIGHT_FILES)), None)


def weights_origin(spec: ModelSpec) -> str:
    """Where the weights come from right now: "embedded", "local", "cache", "hub", or "unavailable"."""
    if spec.source == "embedded":
        return "embedded" if spec.weights_file.exists() else "unavailable"
    if spec.source == "local":
        return "local"
    if cached_weights(spec) is not None:
        return "cache"
    return "hub" if hub_reachable() else "unavailable"


# Classifier.origin and Manifest.origin in words: where the weights came from
ORIGIN_WORDS = {"embedded": "embedded in vitspace", "cache": "from the local Hugging Face cache",
                "hub": "downloaded from the Hugging Face Hub", "local": "from a local folder",
                "random": "random (architecture only)"}


def weights_line(origins: dict[str, str]) -> str:
    """Markdown: where each model's weights came from (model -> origin)."""
    return "Weights: " + "; ".join(f"**{m}** {ORIGIN_WORDS.get(o, o)}" for m, o in origins.items()) + "."


def _hub_folder(spec: ModelSpec) -> Path:
    """The snapshot folder of a Hub model with its config and weights, downloaded if they are not cached."""
    cached = cached_weights(spec)
    if cached is not None:
        return cached.parent
    if not hub_reachable():
        raise _unavailable(spec, offline_reason())
    hub_file(spec.repo_id, "config.json", spec.revision)
    for weights in _HUB_WEIGHT_FILES:
        path = hub_file(spec.repo_id, weights, spec.revision, required=False)
        if path is not None:
            return path.parent
    raise WeightsUnavailableError(f"{spec.name}: the repository has no weights ({' or '.join(_HUB_WEIGHT_FILES)})")


def _unavailable(spec: ModelSpec, why: str) -> WeightsUnavailableError:
    from huggingface_hub import constants
    return WeightsUnavailableError(
        f"{spec.name}: the weights of {spec.repo_id} are not in the local cache ({constants.HF_HUB_CACHE}) and "
        f"{why}. Provide them: download once where the Hub is reachable (`hf download {spec.repo_id}`) and copy "
        f"that cache here or point HF_HUB_CACHE at it, or save the model to a folder and pass its local path "
        f"as the model name. Architecture-only use (random weights) needs no download.")


def _load_transformers(spec: ModelSpec, folder: Path) -> nn.Module:
    import transformers
    arch = (json.loads((folder / "config.json").read_text()).get("architectures") or [None])[0]
    model_cls = getattr(transformers, arch) if arch in TRANSFORMERS_CLASSES else hf_classes(spec.family)[1]
    return HFLogits(model_cls.from_pretrained(str(folder), local_files_only=True))


def _load_timm(spec: ModelSpec, folder: Path) -> nn.Module:
    import timm
    return timm.create_model(f"local-dir:{folder}", pretrained=True)


_LOADERS = {"transformers": _load_transformers, "timm": _load_timm}


def _load_saved(spec: ModelSpec) -> nn.Module:
    """A Hub or local model, from its folder (a Hub model's is its snapshot in the cache)."""
    folder = spec.folder if spec.source == "local" else _hub_folder(spec)
    try:
        return _LOADERS[spec.library](spec, folder)
    except (OSError, RuntimeError, ValueError, KeyError) as e:  # a broken cache entry, truncated or mismatched weights
        raise WeightsUnavailableError(f"{spec.name}: its weights in {folder} cannot be loaded "
                                      f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e


def load_module(spec: ModelSpec, pretrained: bool = True, seed: int | None = 0) -> nn.Module:
    """The spec's model in eval mode, with its weights unless pretrained=False: then random weights drawn
    from `seed`, the same every time and leaving the global generator alone (None: drawn from it)."""
    if not pretrained:
        # reproducible architecture-only figures (fidelity, say)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            return spec.build().eval()
    if spec.source in ("hub", "local"):
        return _load_saved(spec).eval()
    if not spec.weights_file.exists():
        raise WeightsUnavailableError(f"{spec.name}: weights file {spec.weights_file} is missing; train it as "
                                      "docs/training.md says (scripts/train_embedded.sh trains the embedded models)")
    model = spec.build()
    model.load_state_dict(load_file(str(spec.weights_file)))
    return model.eval()
