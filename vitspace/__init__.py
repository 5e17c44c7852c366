"""vitspace: try, compress, measure and ship Vision Transformers (ViT) and DeiT."""
import logging

# transformers imports torchao, whose enum registration warns on every start under torch 2.14
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

from .classifier import (Classifier, Comparison, FastPathUnavailable, Prediction, compare, default_pair,  # noqa: E402
                         get_classifier)
from .images import ImageError, load_image  # noqa: E402
from .loading import WeightsUnavailableError  # noqa: E402
from .registry import ModelSpec, UnknownModelError, create_model, get_spec, list_models  # noqa: E402

# errors whose message is meant for the user (CLI prints it, the UI shows it, no traceback)
USER_ERRORS = (ImageError, UnknownModelError, WeightsUnavailableError, FastPathUnavailable)

__all__ = ["USER_ERRORS", "Classifier", "Comparison", "Prediction", "compare", "default_pair", "get_classifier",
           "FastPathUnavailable", "ImageError", "load_image", "WeightsUnavailableError", "ModelSpec",
           "UnknownModelError", "create_model", "get_spec", "list_models"]
__version__ = "0.1.0"
