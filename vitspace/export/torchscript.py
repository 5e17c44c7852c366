"""TorchScript files: fp32 and dynamic int8, mobile-optimized, and the lite interpreter's `.ptl`."""
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..util import atomic
from .variant import BuildContext, Built, Runner, Variant, expected_deprecations, register

__all__ = ["to_torchscript", "quantize_int8", "to_mobile", "to_lite", "PORTABLE_PASSES", "xnnpack_enabled"]


def to_torchscript(model: nn.Module, *, example: torch.Tensor, freeze: bool = True) -> torch.jit.ScriptModule:
    """Traced, and frozen unless asked not to (weights become graph constants, submodules inlined)."""
    with torch.no_grad(), expected_deprecations():
        script = torch.jit.trace(model, example).eval()
        return torch.jit.freeze(script) if freeze else script


def quantize_int8(model: nn.Module) -> nn.Module:
    """nn.Linear layers with int8 weights and dynamically quantized activations (the current engine)."""
    with expected_deprecations():
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def xnnpack_enabled() -> bool:
    """Whether this torch build has XNNPACK, which optimize_for_mobile needs."""
    import torch.backends.xnnpack
    return bool(torch.backends.xnnpack.enabled)


# optimize_for_mobile's passes that need no XNNPACK. Left out on purpose: torch.jit.freeze, because frozen
# int8 weights become graph constants that the lite format stores twice (5.5 MB instead of 3.1 MB for
# deit-tiny-cifar10), and optimize_for_inference, whose MKLDNN ops mobile runtimes lack (saving its output
# for the lite interpreter segfaults)
PORTABLE_PASSES: dict[str, Callable[[torch.jit.ScriptModule], None]] = {
    "torch._C._jit_pass_inline": lambda m: torch._C._jit_pass_inline(m.graph),
    "torch._C._jit_pass_remove_dropout": lambda m: torch._C._jit_pass_remove_dropout(m._c),
    "torch._C._jit_pass_constant_propagation": lambda m: torch._C._jit_pass_constant_propagation(m.graph),
    "torch._C._jit_pass_fuse_add_relu": lambda m: torch._C._jit_pass_fuse_add_relu(m.graph),
    "torch._C._jit_pass_constant_pooling": lambda m: torch._C._jit_pass_constant_pooling(m.graph),
    "torch._C._jit_pass_cse": lambda m: torch._C._jit_pass_cse(m.graph),
    "torch._C._jit_pass_dce": lambda m: torch._C._jit_pass_dce(m.graph),
}


def to_mobile(script: torch.jit.ScriptModule) -> tuple[torch.jit.ScriptModule, list[str], list[str]]:
    """(module, passes that ran, notes): optimize_for_mobile where XNNPACK is built in, else portable passes.

    `script` is traced but not frozen; the portable passes change it in place.
    """
    if xnnpack_enabled():
        from torch.utils.mobile_optimizer import optimize_for_mobile
        return optimize_for_mobile(script), ["torch.utils.mobile_optimizer.optimize_for_mobile"], []
    notes = [("optimize_for_mobile unavailable: this torch build has no XNNPACK (torch.backends.xnnpack.enabled "
              "is False; it raises 'XNNPACK is not enabled'), so its portable passes ran instead"),
             "torch.jit.freeze skipped: the lite format would store frozen int8 weights twice",
             "torch.jit.optimize_for_inference skipped: its MKLDNN rewrites are not portable to mobile runtimes"]
    passes = []
    for name, run in PORTABLE_PASSES.items():
        run(script)
        passes.append(name)
    return script, passes, notes


def to_lite(script: torch.jit.ScriptModule, path: Path) -> list[str]:
    """Saved for the lite interpreter; returns notes (the bytecode version mobile runtimes must read)."""
    from torch.jit.mobile import _get_model_bytecode_version
    with expected_deprecations():
        Path(path).write_bytes(script._save_to_buffer_for_lite_interpreter())  # Python writes: atomic.through_memory
        return [f"lite interpreter bytecode version {_get_model_bytecode_version(str(path))}"]


INT8_TRACE = ["torch.ao.quantization.quantize_dynamic(nn.Linear, qint8)", "torch.jit.trace"]


def _int8_eager(ctx: BuildContext) -> nn.Module:
    return ctx.once("int8", lambda: quantize_int8(ctx.model))


def _mobile(ctx: BuildContext) -> tuple[torch.jit.ScriptModule, list[str], list[str]]:
    return ctx.once("mobile", lambda: to_mobile(to_torchscript(_int8_eager(ctx), example=ctx.example, freeze=False)))


def _save(script: torch.jit.ScriptModule, path: Path) -> None:
    atomic.through_memory(path, lambda buffer: torch.jit.save(script, buffer))  # a full disk: OSError, not abort


def _build_fp32(ctx: BuildContext, path: Path) -> Built:
    _save(to_torchscript(ctx.model, example=ctx.example), path)
    return Built(["torch.jit.trace", "torch.jit.freeze"])


def _build_int8(ctx: BuildContext, path: Path) -> Built:
    _save(to_torchscript(_int8_eager(ctx), example=ctx.example), path)
    return Built(INT8_TRACE + ["torch.jit.freeze"], [f"quantized engine {ctx.engine}"])


def _build_mobile(ctx: BuildContext, path: Path) -> Built:
    module, passes, notes = _mobile(ctx)
    _save(module, path)
    return Built(INT8_TRACE + passes, [f"quantized engine {ctx.engine}"] + notes)


def _build_lite(ctx: BuildContext, path: Path) -> Built:
    module, passes, notes = _mobile(ctx)
    lite_notes = to_lite(module, path)
    return Built(INT8_TRACE + passes + ["_save_for_lite_interpreter"],
                 [f"quantized engine {ctx.engine}"] + notes + lite_notes)


def _load(path: Path, threads: int | None = None) -> Runner:
    with expected_deprecations():
        return torch.jit.load(str(path)).eval()


def _load_lite(path: Path, threads: int | None = None) -> Runner:
    from torch.jit.mobile import _load_for_lite_interpreter
    with expected_deprecations():
        return _load_for_lite_interpreter(str(path))


SNIPPET = '''import torch

model = torch.jit.load("{file}").eval()
pixels = torch.rand(1, 3, {size}, {size})  # preprocessed as for the original model
with torch.inference_mode():
    logits = model(pixels)
'''
LITE_SNIPPET = '''// Android (Kotlin), build.gradle: implementation("org.pytorch:pytorch_android_lite:1.13.1")
import org.pytorch.IValue
import org.pytorch.LiteModuleLoader
import org.pytorch.Tensor

// assetFilePath: the PyTorch Android demos' helper that copies an asset to a file and returns its path
val module = LiteModuleLoader.load(assetFilePath(context, "{file}"))
val pixels = Tensor.fromBlob(FloatArray(3 * {size} * {size}), longArrayOf(1, 3, {size}, {size}))  // preprocessed
val logits = module.forward(IValue.from(pixels)).toTensor().dataAsFloatArray

// Python: from torch.jit.mobile import _load_for_lite_interpreter; _load_for_lite_interpreter("{file}")(pixels)
'''
_TS = dict(format="torchscript", runtime="torch.jit", snippet=SNIPPET, title="Python (TorchScript)",
           hub_tag="torchscript", torch_ops=True)
register(Variant("fp32.pt", precision="fp32", build=_build_fp32, load=_load, order=10, **_TS))
register(Variant("int8.pt", precision="int8", build=_build_int8, load=_load, order=11, **_TS))
register(Variant("int8-mobile.pt", precision="int8", build=_build_mobile, load=_load, order=12, **_TS))
register(Variant("int8-mobile.ptl", "torchscript-lite", "lite interpreter", "int8", _build_lite, _load_lite,
                 LITE_SNIPPET, "Android (PyTorch Mobile lite interpreter, `.ptl`)", "pytorch-mobile",
                 language="kotlin", torch_ops=True, order=13))
