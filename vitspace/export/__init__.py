"""Export backends, one module each: a backend builds and loads the deployable files it registers.

Every module in this package other than `variant`, `engine` and `capture` is a backend and is imported here, so
a new format is one new module that calls `register(Variant(...))`, with no edits elsewhere.

Beside the registry, this surface names the few backend helpers other packages use: the fast path's file
(`FAST_FILE`), dynamic int8 (`quantize_int8`, the mobile tutorial's recipe) and OpenVINO's own recipe and
CPU settings (`to_openvino`, `openvino_config`), which the bench's peers run in memory, and the lock that
keeps graph captures on different threads apart (`capturing`).
"""
import importlib
import pkgutil

from .capture import capturing
from .engine import pick_engine, quantized_engine
from .openvino import openvino_config, to_openvino
from .pt2 import FAST_FILE
from .torchscript import quantize_int8
from .variant import (
    VARIANTS,
    BuildContext,
    Built,
    Runner,
    Variant,
    default_files,
    expected_deprecations,
    files_of,
    get_variant,
    missing_packages,
    register,
    require,
    usage_snippet,
)

__all__ = ["VARIANTS", "Variant", "default_files", "files_of", "get_variant", "Built", "BuildContext", "Runner",
           "register", "require", "missing_packages", "usage_snippet", "expected_deprecations", "pick_engine",
           "quantized_engine", "capturing", "FAST_FILE", "quantize_int8", "to_openvino", "openvino_config"]

_INFRASTRUCTURE = {"variant", "engine", "capture"}
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_module}")
