"""What a deployable file is to the rest of vitspace: a Variant, registered by its backend."""
import importlib
import importlib.util
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError, MissingBackendError
from ..util.registry import register_ordered

__all__ = ["Variant", "Built", "BuildContext", "Runner", "VARIANTS", "default_files", "files_of", "register", "require",
           "missing_packages", "usage_snippet", "expected_deprecations"]

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class BuildContext:
    """What the builders share: the eager model, inputs, and intermediate results made once."""
    model: nn.Module
    example: torch.Tensor               # (1, 3, H, W)
    calibration: list[torch.Tensor]     # each (1, 3, H, W)
    engine: str                         # quantized engine of int8 TorchScript
    pte_int8: str = "static"            # activations of model-int8.pte: static or dynamic
    made: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """make(), kept under `key` so that the builders that need the same result make it once."""
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]


@dataclass
class Built:
    """What a variant's build reports: the passes that ran, in order, and notes for the manifest."""
    passes: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Variant:
    """A deployable file: how to build it, load it and show it; each backend registers its own."""
    file: str                                       # file name in the build folder
    format: str                                     # torchscript, executorch, onnx, pt2, openvino, ...
    runtime: str                                    # what loads and runs it
    precision: str                                  # fp32 or int8
    build: Callable[[BuildContext, Path], Built]    # writes the file at the path given
    load: Callable[..., Runner]                     # load(path, threads=None): pixels (B, 3, H, W) -> logits
    snippet: str                                    # usage code with {file} and {size}
    title: str                                      # the card's name for the format
    hub_tag: str                                    # the Hub tag of the format
    language: str = "python"                        # of the snippet
    fixed_batch: bool = False                       # runs only the batch size it was exported with
    peer: bool = False                              # another tool's own recipe, not vitspace's (bench)
    torch_ops: bool = False                         # runs torch ops, which torch's profiler sees (bench)
    packages: tuple[tuple[str, str], ...] = ()      # (module, pip package) it needs beyond torch
    companions: tuple[str, ...] = ()                # files written beside it (weights of an IR)
    order: int = 100                                # place in tables and menus
    default: bool = True                            # built unless files are named (compress, Compress tab)

    @property
    def files(self) -> tuple[str, ...]:
        """The file and its companions."""
        return (self.file, *self.companions)


VARIANTS: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    """Add a variant to VARIANTS, replacing one of the same file, and keep VARIANTS sorted by order; returns it."""
    return register_ordered(VARIANTS, variant.file, variant)


def default_files() -> tuple[str, ...]:
    """The files built when none are named: the registered variants with `default` set, in order."""
    return tuple(f for f, v in VARIANTS.items() if v.default)


def files_of(file: str) -> tuple[str, ...]:
    """A built file and the files written beside it (an IR's weights); one no variant knows (an older build's) alone."""
    return VARIANTS[file].files if file in VARIANTS else (file,)


def get_variant(file: str) -> Variant:
    """The registered variant of a file name.

    Raises:
        ConfigError: no variant builds that file.
    """
    if file not in VARIANTS:
        raise ConfigError(f"unknown variant file {file!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[file]


def require(module: str, package: str):
    """Import an optional runtime's module.

    Args:
        module: the module to import.
        package: the pip package that provides it, for the message.

    Returns:
        The module.

    Raises:
        MissingBackendError: it cannot be imported; the message says what to install.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingBackendError(f"{package} is not installed (`pip install {package}`): {e}") from e


def _installed(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.modules:  # None there blocks the import, as a test or an embedding app may do
        return sys.modules[top] is not None
    return importlib.util.find_spec(top) is not None


def missing_packages(variant: Variant) -> list[str]:
    """The pip packages a variant needs that are not installed here."""
    return [pkg for module, pkg in variant.packages if not _installed(module)]


def usage_snippet(file: str | Path, *, input_size: int = 224) -> str:
    """Code that loads and runs a variant file in its runtime."""
    return get_variant(Path(file).name).snippet.format(file=Path(file).name, size=input_size)


@contextmanager
def expected_deprecations():
    """Silence, within the block, the deprecation warnings of TorchScript, the lite interpreter and torch.ao
    quantization."""
    # TorchScript, the lite interpreter and torch.ao quantization are deprecated upstream in favour of
    # ExecuTorch; building them anyway is the point of these backends, so their warnings are noise here
    with warnings.catch_warnings():
        for category in (FutureWarning, DeprecationWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        yield
