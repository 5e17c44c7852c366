"""The fast x86 CPU path: static int8 by PT2E with the X86 inductor quantizer, saved as an exported
program (`.pt2`) and run by torch.compile, whose freezing passes lower it to oneDNN int8 kernels.

Token merging (`vitspace.models.tome`) does less work instead: `model-tome-rR.pt2` merges R tokens per block in
fp32, `model-int8-x86-tome-rR.pt2` does both. Their programs hold aten ops only and load like the others."""
import platform
from pathlib import Path

import torch
from torch import nn

from ..models.tome import apply_tome, name_for
from ..util import atomic
from ..util.cpuinfo import precision_plan
from .capture import capturing
from .variant import BuildContext, Built, Runner, Variant, register

__all__ = ["quantize_x86", "export_batched", "save_int8_x86", "FAST_FILE", "TOME_RATES"]

FAST_FILE = "model-int8-x86.pt2"
TOME_RATES = (8, 16)  # tokens merged per block: DeiT-B keeps about 3/4 and 1/2 of its work


FLOAT_STEM = "patch_embed"  # a ViT's or DeiT's stem, left in float by the 7-bit recipe


def quantize_x86(model: nn.Module, *, example: torch.Tensor, calibration: list[torch.Tensor],
                 reduce_range: bool | None = None) -> nn.Module:
    """Static int8 by PT2E with the X86 inductor quantizer (oneDNN int8 kernels after torch.compile):
    per-channel weights folded to int8, activation ranges calibrated on `calibration`; batch dynamic.
    reduce_range (7-bit activations; default: where the CPU has no VNNI) keeps int16 sums from saturating;
    then the stem (`patch_embed`), which sees raw pixels, stays in float."""
    if reduce_range is None:
        reduce_range = precision_plan().int8_reduce_range
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise RuntimeError(f"the x86 int8 path needs an x86-64 CPU, not {platform.machine()}")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )
    config = get_default_x86_inductor_quantization_config(reduce_range=reduce_range)
    quantizer = X86InductorQuantizer().set_global(config)
    if reduce_range:  # the embedded DeiT at 7 bits: 98.9% agreement with an int8 stem, 99.2% with a float one
        quantizer.set_module_name_qconfig(FLOAT_STEM, None)
    with torch.no_grad():
        prepared = prepare_pt2e(export_batched(model, example).module(), quantizer)
        for x in calibration:
            prepared(x)
        converted = convert_pt2e(prepared)
    _drop_unused_state(converted)
    return converted


def export_batched(model: nn.Module, example: torch.Tensor) -> "torch.export.ExportedProgram":
    """torch.export of the model with a dynamic batch size (1 to 1024); `example` is one input (1, 3, H, W)."""
    # batch 2 in the example: export specialises a size of 1 into a constant
    batch = torch.export.Dim("batch", min=1, max=1024)
    return torch.export.export(model, (torch.cat([example] * 2),), dynamic_shapes=({0: batch},))


def _drop_unused_state(gm: torch.fx.GraphModule) -> None:
    """Remove the float weights that convert_pt2e folded into int8 constants, or export would keep both."""
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name in [n for n, _ in gm.named_parameters()] + [n for n, _ in gm.named_buffers()]:
        if name not in used:
            owner, _, attr = name.rpartition(".")
            delattr(gm.get_submodule(owner) if owner else gm, attr)


def _tome(ctx: BuildContext, r: int) -> nn.Module:
    return ctx.once(f"tome-r{r}", lambda: apply_tome(ctx.model, r).eval()) if r else ctx.model


def save_int8_x86(model: nn.Module, example: torch.Tensor, calibration: list[torch.Tensor], path: Path) -> list[str]:
    """The model's static int8 program for this CPU (PT2E, batch dynamic) saved at path; the passes that ran."""
    reduce_range = precision_plan().int8_reduce_range
    quantized = quantize_x86(model, example=example, calibration=calibration, reduce_range=reduce_range)
    program = export_batched(quantized, example)
    atomic.through_memory(path, lambda buffer: torch.export.save(program, buffer))  # a full disk: OSError, not abort
    recipe = (f"static, reduce_range: 7-bit activations for a CPU without VNNI, {FLOAT_STEM} in float" if reduce_range
              else "static")
    return ["torch.export.export(dynamic batch)", f"prepare_pt2e(X86InductorQuantizer, {recipe})",
            f"calibrate on {len(calibration)} images", "convert_pt2e", "torch.export.save"]


def _int8_builder(r: int = 0):
    def build(ctx: BuildContext, path: Path) -> Built:
        model = _tome(ctx, r)
        return Built([*_tome_pass(model), *save_int8_x86(model, ctx.example, ctx.calibration, path)],
                     ["run with torch.compile and inductor freezing: oneDNN int8 kernels for x86 (VNNI, AMX)"])
    return build


def _fp32_builder(r: int):
    def build(ctx: BuildContext, path: Path) -> Built:
        model = _tome(ctx, r)
        program = export_batched(model, ctx.example)
        atomic.through_memory(path, lambda buffer: torch.export.save(program, buffer))
        return Built([*_tome_pass(model), "torch.export.export(dynamic batch)", "torch.export.save"],
                     ["run with torch.compile"])
    return build


def _tome_pass(model: nn.Module) -> list[str]:
    r = getattr(model, "r", 0)
    return [f"token merging: {r} per block, tokens leaving the blocks {model.tokens}"] if r else []


def _load(path: Path, threads: int | None = None) -> Runner:
    """The exported program compiled by inductor with freezing, which lowers int8 to oneDNN kernels."""
    # registers the quantized_decomposed ops the program names and inductor's int8 fusion passes for x86
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401
    from torch._inductor import config
    compiled, shapes = torch.compile(torch.export.load(str(path)).module(), dynamic=False), set()

    def run(x: torch.Tensor) -> torch.Tensor:
        with config.patch(freezing=True):  # compile(options=...) does not reach the freezing passes
            if x.shape in shapes:
                return compiled(x)
            with capturing():  # a new shape compiles, a graph capture
                y = compiled(x)
            shapes.add(x.shape)
            return y
    return run


SNIPPET = '''import torch

import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # registers the int8 ops and passes

# x86-64 CPUs; the first call compiles (seconds to minutes), later calls run oneDNN int8 kernels
torch._inductor.config.freezing = True
model = torch.compile(torch.export.load("{file}").module())
pixels = torch.rand(1, 3, {size}, {size})  # preprocessed as for the original model; any batch size
with torch.no_grad():
    logits = model(pixels)
'''
register(Variant(FAST_FILE, "pt2", "torch.compile (inductor, x86)", "int8", _int8_builder(), _load, SNIPPET,
                 "Python, fast x86 CPU path (`torch.compile`)", "pt2", torch_ops=True, order=40))
for _r in TOME_RATES:
    register(Variant(name_for(_r, "model.pt2"), "pt2", "torch.compile (inductor)", "fp32", _fp32_builder(_r), _load,
                     SNIPPET, f"Python, token merging r={_r} (`torch.compile`)", "pt2", torch_ops=True,
                     order=70 + 2 * _r, default=False))
    register(Variant(name_for(_r, FAST_FILE), "pt2", "torch.compile (inductor, x86)", "int8", _int8_builder(_r), _load,
                     SNIPPET, f"Python, fast x86 CPU path with token merging r={_r} (`torch.compile`)", "pt2",
                     torch_ops=True, order=71 + 2 * _r, default=False))
