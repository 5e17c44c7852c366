"""vitspace: try, compress, measure and ship Vision Transformers (ViT) and DeiT."""
import logging

# transformers imports torchao, whose enum registration warns on every start under torch 2.14
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

from .errors import FastPathUnavailable, ImageError, MissingBackendError, UnknownModelError  # noqa: E402
from .errors import VitspaceError, WeightsUnavailableError  # noqa: E402
from .factory import ModelInfo, create_model, model_info  # noqa: E402
from .images import load_image  # noqa: E402
from .inference import Classifier, Comparison, Prediction, default_pair, get_classifier  # noqa: E402
from .registry import ModelSpec, get_spec, list_models  # noqa: E402

__all__ = ["VitspaceError", "Classifier", "Comparison", "Prediction", "compare", "classifier", "default_pair",
           "fast_note", "get_classifier", "FastPathUnavailable", "ImageError", "MissingBackendError", "load_image",
           "WeightsUnavailableError", "ModelSpec", "ModelInfo", "model_info", "UnknownModelError", "create_model",
           "get_spec", "list_models"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # the fast path imports the compress command's module: loaded on first use, so that
    # `python -m vitspace.compress` does not find itself already imported
    if name in ("compare", "classifier", "fast_note"):
        from . import fastpath
        return getattr(fastpath, name)
    raise AttributeError(f"module 'vitspace' has no attribute {name!r}")
