"""Weights: embedded safetensors in this package, or the Hugging Face Hub and its local cache.

Hub loading fails fast: a model whose files are not cached is fetched only when the Hub answers a
2-second probe, so an offline machine gets a clear message at once instead of minutes of retries.
"""
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import WeightsUnavailableError
from .hf import HFLogits, hf_classes
from .registry import ModelSpec

__all__ = ["load_module", "weights_origin", "hub_reachable", "load_local_hf"]

_HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


_probe_lock = threading.Lock()
_probe: tuple[float, bool] | None = None


def hub_reachable(timeout: float = 2.0, ttl: float = 60.0) -> bool:
    """Whether the Hub endpoint accepts a TCP connection; remembered for `ttl` seconds."""
    global _probe
    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return False
    with _probe_lock:
        if _probe and time.monotonic() - _probe[0] < ttl:
            return _probe[1]
        url = urlparse(constants.ENDPOINT)
        try:
            socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=timeout).close()
            ok = True
        except OSError:
            ok = False
        _probe = (time.monotonic(), ok)
        return ok


def _cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    has = lambda f: isinstance(try_to_load_from_cache(repo_id, f), str)  # noqa: E731
    return has("config.json") and any(has(f) for f in _HUB_WEIGHT_FILES)


def weights_origin(spec: ModelSpec) -> str:
    """Where the weights come from right now: "embedded", "cache", "hub", or "unavailable"."""
    if spec.source == "embedded":
        return "embedded" if spec.weights_file.exists() else "unavailable"
    if _cached(spec.repo_id):
        return "cache"
    return "hub" if hub_reachable() else "unavailable"


def _unavailable(spec: ModelSpec, why: str) -> WeightsUnavailableError:
    from huggingface_hub import constants
    return WeightsUnavailableError(
        f"{spec.name}: the weights of {spec.repo_id} are not in the local cache ({constants.HF_HUB_CACHE}) and "
        f"{why}. Provide them: download once where the Hub is reachable (`hf download {spec.repo_id}`) and copy "
        f"that cache here or point HF_HUB_CACHE at it, or save the model to a folder and pass its local path "
        f"as the model name. Architecture-only use (random weights) needs no download.")


def _load_hub(spec: ModelSpec) -> nn.Module:
    _, model_cls = hf_classes(spec.family)
    status = weights_origin(spec)
    if status == "unavailable":
        from huggingface_hub import constants
        why = "HF_HUB_OFFLINE=1 is set" if constants.HF_HUB_OFFLINE else f"{constants.ENDPOINT} is unreachable"
        raise _unavailable(spec, why)
    try:
        return HFLogits(model_cls.from_pretrained(spec.repo_id, local_files_only=status == "cache"))
    except OSError as e:  # network dropped mid-download, or a broken cache entry
        raise _unavailable(spec, f"loading failed ({type(e).__name__})") from e


def load_module(spec: ModelSpec, pretrained: bool = True, seed: int | None = 0) -> nn.Module:
    """The spec's model in eval mode, with its weights unless pretrained=False: then random weights drawn
    from `seed`, the same every time and leaving the global generator alone (None: drawn from it)."""
    if not pretrained:
        # reproducible architecture-only figures (fidelity, say)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            return spec.build().eval()
    if spec.source == "hub":
        return _load_hub(spec).eval()
    if not spec.weights_file.exists():
        raise WeightsUnavailableError(f"{spec.name}: weights file {spec.weights_file} is missing; train it with "
                                      f"`python -m vitspace.train --model {spec.name}`")
    model = spec.build()
    model.load_state_dict(load_file(str(spec.weights_file)))
    return model.eval()


def load_local_hf(path: str | Path) -> tuple[nn.Module, object]:
    """A transformers image classifier saved in a local folder, with its image processor."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification
    path = Path(path)
    if not (path / "config.json").exists():
        raise WeightsUnavailableError(f"{path} holds no config.json: not a saved transformers model")
    model = AutoModelForImageClassification.from_pretrained(str(path), local_files_only=True)
    return HFLogits(model).eval(), AutoImageProcessor.from_pretrained(str(path), local_files_only=True)

