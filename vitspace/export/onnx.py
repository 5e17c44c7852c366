"""ONNX files (dynamo exporter) run by ONNX Runtime: fp32, and int8 by ONNX Runtime's dynamic quantization."""
import tempfile
from pathlib import Path

import torch
from torch import nn

from .variant import BuildContext, Built, Runner, Variant, register, require

__all__ = ["to_onnx", "quantize_onnx"]

PACKAGES = (("onnxscript", "onnxscript"), ("onnxruntime", "onnxruntime"))
EXPORT = "torch.onnx.export(dynamo=True, dynamic batch)"


def to_onnx(model: nn.Module, *, example: torch.Tensor) -> "torch.onnx.ONNXProgram":
    """ONNX by the dynamo exporter (torch's default; it handles timm and transformers ViTs), batch dynamic."""
    require("onnxscript", "onnxscript")
    batch = torch.export.Dim("batch", min=1, max=1024)
    return torch.onnx.export(model, (example,), dynamo=True, input_names=["pixel_values"],
                             output_names=["logits"], dynamic_shapes=({0: batch},), verbose=False)


def _save(program: "torch.onnx.ONNXProgram", path: Path) -> None:
    program.save(str(path), external_data=False)  # one self-contained file; protobuf caps that at 2 GB


def quantize_onnx(src: Path, dst: Path) -> None:
    """Int8 weights, activations quantized at run time (ONNX Runtime dynamic quantization)."""
    quantization = require("onnxruntime.quantization", "onnxruntime")
    quantization.quantize_dynamic(str(src), str(dst), weight_type=quantization.QuantType.QInt8)


def _exported(ctx: BuildContext) -> "torch.onnx.ONNXProgram":
    return ctx.once("onnx", lambda: to_onnx(ctx.model, example=ctx.example))


def _build(ctx: BuildContext, path: Path) -> Built:
    _save(_exported(ctx), path)
    return Built([EXPORT])


def _build_int8(ctx: BuildContext, path: Path) -> Built:
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        _save(_exported(ctx), fp32)
        quantize_onnx(fp32, path)
    return Built([EXPORT, "onnxruntime.quantization.quantize_dynamic(QInt8)"])


def _load(path: Path, threads: int | None = None) -> Runner:
    ort = require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


SNIPPET = '''import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("{file}", providers=["CPUExecutionProvider"])
pixels = np.random.rand(1, 3, {size}, {size}).astype(np.float32)  # preprocessed; any batch size
logits = session.run(None, {{"pixel_values": pixels}})[0]
'''
# ONNX Runtime's own quantization recipe is what a user would pick instead of vitspace's: a peer in the bench
_ONNX = dict(format="onnx", runtime="onnxruntime (CPUExecutionProvider)", load=_load, snippet=SNIPPET,
             title="ONNX Runtime", hub_tag="onnx", peer=True, packages=PACKAGES)
register(Variant("model.onnx", precision="fp32", build=_build, order=30, **_ONNX))
register(Variant("model-int8.onnx", precision="int8", build=_build_int8, order=31, **_ONNX))
