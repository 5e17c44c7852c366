"""OpenVINO IR, `model-int8.xml` with its weights in `model-int8.bin`: post-training int8 by NNCF, the
recipe users deploying on Intel CPUs run. Skipped with a note where openvino or nncf is not installed."""
from pathlib import Path

import torch

from ..util.cpuinfo import precision_plan
from .variant import BuildContext, Built, Runner, Variant, register, require

PACKAGES = (("openvino", "openvino"), ("nncf", "nncf"))


def _build(ctx: BuildContext, path: Path) -> Built:
    ov, nncf = require("openvino", "openvino"), require("nncf", "nncf")
    model = ov.convert_model(ctx.model, example_input=torch.cat([ctx.example] * 2))  # batch stays dynamic
    data = nncf.Dataset([x.numpy() for x in ctx.calibration])
    quantized = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(ctx.calibration))
    ov.save_model(quantized, str(path))  # the .xml, and the .bin beside it
    return Built(["openvino.convert_model", f"nncf.quantize(TRANSFORMER, calibrate on {len(ctx.calibration)} images)",
                  "openvino.save_model"])


def precision_config() -> dict:
    """fp32 for the layers int8 leaves where the CPU has no native bf16; else OpenVINO's own choice. It reads
    the CPU itself, so under an emulated lesser CPU it picked bf16 and then found no kernel for it."""
    return {} if precision_plan().bf16 else {"INFERENCE_PRECISION_HINT": "f32"}


def _load(path: Path, threads: int | None = None) -> Runner:
    ov = require("openvino", "openvino")
    config = {"PERFORMANCE_HINT": "LATENCY", **precision_config()}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()
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
