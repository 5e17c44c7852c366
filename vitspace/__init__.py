"""vitspace: try, compress, measure and ship Vision Transformers (ViT) and DeiT."""
import logging

# transformers imports torchao, whose enum registration warns on every start under torch 2.14
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

from .classify.classifier import Classifier, Comparison, Prediction, default_pair, get_classifier  # noqa: E402
from .compress.fastpath import classifier, compare, fast_note  # noqa: E402
from .data.images import load_image  # noqa: E402
from .errors import FastPathUnavailable, ImageError, MissingBackendError, UnknownModelError  # noqa: E402
from .errors import UnsupportedModelError  # noqa: E402
from .errors import VitspaceError, WeightsUnavailableError  # noqa: E402
from .models.factory import ModelInfo, create_model, model_info  # noqa: E402
from .models.registry import ModelSpec, get_spec, list_models  # noqa: E402
from .models.resolve import resolve  # noqa: E402

__all__ = ["VitspaceError", "Classifier", "Comparison", "Prediction", "compare", "classifier", "default_pair",
           "fast_note", "get_classifier", "FastPathUnavailable", "ImageError", "MissingBackendError", "load_image",
           "WeightsUnavailableError", "UnsupportedModelError", "ModelSpec", "ModelInfo", "model_info",
           "UnknownModelError", "create_model", "get_spec", "list_models", "resolve"]
__version__ = "0.1.0"
