"""ExecuTorch programs (`.pte`) with the XNNPACK delegate: fp32, and int8 by PT2E with XNNPACK's quantizer."""
from pathlib import Path

import torch
from torch import nn

from .variant import BuildContext, Built, Runner, Variant, register, require

__all__ = ["quantize_pt2e", "to_executorch"]

PACKAGES = (("executorch", "executorch"),)
LOWER = ["torch.export.export", "to_edge_transform_and_lower(XnnpackPartitioner)", "to_executorch"]


def quantize_pt2e(model: nn.Module, *, example: torch.Tensor, calibration: list[torch.Tensor],
                  dynamic: bool = False) -> nn.Module:
    """Int8 by PT2E with the XNNPACK quantizer: symmetric per-channel weights; activations static
    (ranges calibrated on `calibration`) or dynamic (measured per input at run time, no calibration)."""
    if not dynamic and not calibration:
        raise ValueError("static int8 needs calibration inputs")
    require("executorch", "executorch")
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    prepared = prepare_pt2e(torch.export.export(model, (example,)).module(), XNNPACKQuantizer().set_global(config))
    with torch.no_grad():  # dynamic too needs one pass: the weight observers see the weights in forward
        for x in [example] if dynamic else calibration:
            prepared(x)
    return convert_pt2e(prepared)


def to_executorch(model: nn.Module, *, example: torch.Tensor) -> bytes:
    """An ExecuTorch program with the XNNPACK delegate, for inputs of example's shape."""
    exir = require("executorch.exir", "executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    program = torch.export.export(model, (example,))
    return exir.to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer


def _build(ctx: BuildContext, path: Path) -> Built:
    path.write_bytes(to_executorch(ctx.model, example=ctx.example))
    return Built(list(LOWER))


def _build_int8(ctx: BuildContext, path: Path) -> Built:
    dynamic = ctx.pte_int8 == "dynamic"
    quantized = quantize_pt2e(ctx.model, example=ctx.example, calibration=ctx.calibration, dynamic=dynamic)
    path.write_bytes(to_executorch(quantized, example=ctx.example))
    calibrate = [] if dynamic else [f"calibrate on {len(ctx.calibration)} images"]
    return Built(["torch.export.export", f"prepare_pt2e(XNNPACKQuantizer, symmetric, per-channel, {ctx.pte_int8})",
                  *calibrate, "convert_pt2e", *LOWER])


def _load(path: Path, threads: int | None = None) -> Runner:
    runtime = require("executorch.runtime", "executorch")
    program = runtime.Runtime.get().load_program(path)
    method = program.load_method("forward")
    return lambda x, _keep=program: method.execute([x.contiguous()])[0]


SNIPPET = '''import torch
from executorch.runtime import Runtime

method = Runtime.get().load_program("{file}").load_method("forward")
pixels = torch.rand(1, 3, {size}, {size})  # preprocessed as for the original model; batch 1 only
logits = method.execute([pixels])[0]
'''
_PTE = dict(format="executorch", runtime="executorch.runtime (XNNPACK)", load=_load, snippet=SNIPPET,
            title="ExecuTorch (`.pte`)", hub_tag="executorch", fixed_batch=True, packages=PACKAGES)
register(Variant("model.pte", precision="fp32", build=_build, order=20, **_PTE))
register(Variant("model-int8.pte", precision="int8", build=_build_int8, order=21, **_PTE))
