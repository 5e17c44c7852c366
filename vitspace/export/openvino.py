"""OpenVINO IR, `model-int8.xml` with its weights in `model-int8.bin`: post-training int8 by NNCF, the
recipe users deploying on Intel CPUs run. Skipped with a note where openvino or nncf is not installed.

`to_openvino` and `openvino_config` are that recipe and its CPU settings, also for the bench's OpenVINO peers,
which convert in memory. The IR's input and output are named `pixel_values` and `logits`, the names Optimum's
`OVModelForImageClassification` feeds and reads, so a published IR loads with it as well as with openvino."""
from pathlib import Path

import torch
from torch import nn

from ..util.cpuinfo import precision_plan
from .variant import BuildContext, Built, Runner, Variant, register, require

__all__ = ["to_openvino", "openvino_config"]

PACKAGES = (("openvino", "openvino"), ("nncf", "nncf"))
INPUT, OUTPUT = "pixel_values", "logits"   # as ONNX names them (onnx.py), and as Optimum's classes feed and read them


def to_openvino(model: nn.Module, *, example: torch.Tensor, calibration: list[torch.Tensor] | None = None):
    """The model converted to OpenVINO in memory, its batch size left dynamic; int8 by NNCF when calibrated.

    Args:
        model: the eager model.
        example: an input, (1, 3, H, W).
        calibration: images for NNCF's post-training int8 (OpenVINO's own recipe), each (1, 3, H, W);
            None: left in float.

    Returns:
        An `openvino.Model`, its input named `pixel_values` and its output `logits`.

    Raises:
        MissingBackendError: openvino, or nncf for int8, is not installed.
    """
    ov = require("openvino", "openvino")
    converted = ov.convert_model(model, example_input=torch.cat([example] * 2))  # batch 2: the batch stays dynamic
    converted.inputs[0].get_tensor().set_names({INPUT})  # else the forward's argument name (timm: "x"), and
    converted.outputs[0].get_tensor().set_names({OUTPUT})  # no name at all for the output
    if calibration is None:
        return converted
    nncf = require("nncf", "nncf")
    data = nncf.Dataset([x.numpy() for x in calibration])
    return nncf.quantize(converted, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))


def openvino_config(*, threads: int | None = None, bf16: bool = False) -> dict:
    """The settings of OpenVINO's `compile_model` on this CPU: latency first, threads, inference precision.

    Precision: bf16 when asked; else fp32 for the layers int8 leaves where the CPU has no native bf16, and
    OpenVINO's own choice where it has. OpenVINO reads the CPU itself, so under an emulated lesser CPU it
    picked bf16 and then found no kernel for it.

    Args:
        threads: intra-op threads; None: OpenVINO's choice.
        bf16: run the float layers in bf16 (sensible only where `precision_plan().bf16`: emulated, it is slower).
    """
    config = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if bf16:
        config["INFERENCE_PRECISION_HINT"] = "bf16"
    elif not precision_plan().bf16:
        config["INFERENCE_PRECISION_HINT"] = "f32"
    return config


def _build(ctx: BuildContext, path: Path) -> Built:
    ov = require("openvino", "openvino")
    ov.save_model(to_openvino(ctx.model, example=ctx.example, calibration=ctx.calibration), str(path))  # and the .bin
    return Built(["openvino.convert_model", f"nncf.quantize(TRANSFORMER, calibrate on {len(ctx.calibration)} images)",
                  "openvino.save_model"])


def _load(path: Path, threads: int | None = None) -> Runner:
    ov = require("openvino", "openvino")
    request = ov.Core().compile_model(str(path), "CPU", openvino_config(threads=threads)).create_infer_request()
    return lambda x: torch.from_numpy(request.infer({0: x.numpy()})[0].copy())


SNIPPET = '''import numpy as np
import openvino as ov

model = ov.Core().compile_model("{file}", "CPU")  # reads the .bin of the same name beside it
pixels = np.random.rand(1, 3, {size}, {size}).astype(np.float32)  # preprocessed; any batch size
logits = model(pixels)[0]
'''
# OpenVINO's own post-training recipe: what a user would pick instead of vitspace's, so a peer in the bench
register(Variant("model-int8.xml", "openvino", "openvino (CPU)", "int8", _build, _load, SNIPPET,
                 "OpenVINO (`.xml` + `.bin`)", "openvino", peer=True, packages=PACKAGES,
                 companions=("model-int8.bin",), order=50))
