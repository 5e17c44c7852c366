"""The quantized engine of int8 TorchScript, picked for the CPU."""
import platform
from contextlib import contextmanager

import torch

from ..errors import ConfigError

__all__ = ["pick_engine", "quantized_engine", "ARM"]

ARM = ("arm64", "aarch64", "armv7l", "armv8l")


def pick_engine(requested: str = "auto") -> str:
    """`requested`, or the best engine for this CPU.

    x86-64 gets x86 (onednn or fbgemm on builds without it); qnnpack, the ARM engine, ran 3.7x
    slower than fp32 on x86, so it is never picked there unless asked for.
    """
    supported = torch.backends.quantized.supported_engines
    if requested != "auto":
        if requested not in supported:
            raise ConfigError(f"quantized engine {requested!r} is not in this torch build; "
                              f"it has {', '.join(supported)}")
        return requested
    order = ("qnnpack",) if platform.machine().lower() in ARM else ("x86", "onednn", "fbgemm")
    for engine in order:
        if engine in supported:
            return engine
    raise RuntimeError(f"no quantized engine for {platform.machine()} in this torch build (it has {supported})")


@contextmanager
def quantized_engine(engine: str):
    """Run a block with torch's quantized engine set to `engine` (yielded), restoring the previous one after."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield engine
    finally:
        torch.backends.quantized.engine = previous
