"""What a benchmark runs: eager PyTorch, every file `vitspace.compress.build` builds (each in its own runtime),
and the peers a user would pick instead of vitspace's recipes.

`mobile-tutorial-qnnpack` is the recipe of PyTorch's "Vision Transformer on mobile" tutorial: dynamic
int8 `nn.Linear` layers on the qnnpack engine. OpenVINO runs the model converted in memory, in bf16 and
in int8 by NNCF, its post-training recipe.
"""
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..compress.fidelity import Probe
from ..compress.manifest import FileEntry, Manifest
from ..errors import MissingBackendError
from ..export import VARIANTS, Runner, quantized_engine, require
from ..export.openvino import precision_config
from ..export.torchscript import quantize_int8
from ..util.cpuinfo import precision_plan

__all__ = ["BenchContext", "BenchVariant", "BENCH_VARIANTS", "LEGACY_NAMES", "Skip", "entry"]

NOT_NATIVE_BF16 = "bf16 is not native on this CPU (no AVX512-BF16 or AMX): emulated, it runs slower than fp32"
LEGACY_NAMES = {"seed-qnnpack-int8": "mobile-tutorial-qnnpack"}  # names in benchmark files saved before


@dataclass
class BenchContext:
    """What variants share: the eager model, the fidelity probe, the compress build, the thread count."""
    model: nn.Module
    probe: Probe
    artifacts: Path | None
    manifest: Manifest | None
    threads: int


class Skip(Exception):
    """This variant cannot run here (runtime missing, shape unsupported); the note says why."""


@dataclass(frozen=True)
class BenchVariant:
    name: str
    runtime: str
    peer: bool
    prepare: Callable[[BenchContext], Runner]
    file: str | None = None         # the compress file it runs (size and fidelity from the manifest)
    torch_ops: bool = True          # the torch profiler sees its work (the tutorial's figure is meaningful)
    fixed_batch: bool = False       # exported for batch 1 only


def entry(ctx: BenchContext, file: str | None) -> FileEntry | None:
    if not (file and ctx.manifest):
        return None
    return next((f for f in ctx.manifest.files if f.file == file), None)


def _import(module: str, package: str):
    try:
        return require(module, package)
    except MissingBackendError as e:
        raise Skip(str(e)) from None


def _eager(ctx: BenchContext) -> Runner:
    return ctx.model


def _eager_bf16(ctx: BenchContext) -> Runner:
    if not precision_plan().bf16:
        raise Skip(NOT_NATIVE_BF16)
    model = copy.deepcopy(ctx.model).to(torch.bfloat16)
    return lambda x: model(x.to(torch.bfloat16))


def _file(name: str) -> Callable[[BenchContext], Runner]:
    def prepare(ctx: BenchContext) -> Runner:
        built = entry(ctx, name)
        if built is None or built.status != "ok":
            raise Skip(f"{name} was not built" + (f": {built.reason}" if built and built.reason else ""))
        return VARIANTS[name].load(ctx.artifacts / name, threads=ctx.threads)
    return prepare


def _mobile_tutorial(ctx: BenchContext) -> Runner:
    if "qnnpack" not in torch.backends.quantized.supported_engines:
        raise Skip("this torch build has no qnnpack engine")
    with quantized_engine("qnnpack"):
        model = quantize_int8(copy.deepcopy(ctx.model))

    def run(x):
        with quantized_engine("qnnpack"):
            return model(x)
    return run


def _openvino(precision: str) -> Callable[[BenchContext], Runner]:
    def prepare(ctx: BenchContext) -> Runner:
        ov = _import("openvino", "openvino")
        example = torch.cat([ctx.probe.pixels[0]] * 2)
        model = ov.convert_model(ctx.model, example_input=example)
        if precision == "int8":  # OpenVINO's post-training recipe: NNCF, calibrated on the probe images
            nncf = _import("nncf", "nncf")
            data = nncf.Dataset([x.numpy() for x in ctx.probe.pixels])
            model = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(ctx.probe.pixels))
        if precision == "bf16" and not precision_plan().bf16:
            raise Skip(NOT_NATIVE_BF16)
        config = {"INFERENCE_NUM_THREADS": ctx.threads, "PERFORMANCE_HINT": "LATENCY", **precision_config()}
        if precision == "bf16":  # int8 keeps OpenVINO's own choice for the layers it leaves unquantized
            config["INFERENCE_PRECISION_HINT"] = "bf16"
        core, requests = ov.Core(), {}

        def run(x: torch.Tensor) -> torch.Tensor:
            # compiled for each input shape, as a deployment would: 12% faster than the dynamic model
            if x.shape not in requests:
                static = model.clone()
                static.reshape(list(x.shape))
                requests[x.shape] = core.compile_model(static, "CPU", config).create_infer_request()
            return torch.from_numpy(requests[x.shape].infer({0: x.numpy()})[0].copy())
        return run
    return prepare


def _variants() -> dict[str, BenchVariant]:
    rows = [BenchVariant("eager-fp32", "torch eager", False, _eager),
            BenchVariant("eager-bf16", "torch eager", False, _eager_bf16)]
    rows += [BenchVariant(v.file, v.runtime, v.peer, _file(v.file), v.file, v.torch_ops, v.fixed_batch)
             for v in VARIANTS.values()]
    rows += [BenchVariant("mobile-tutorial-qnnpack", "torch eager (qnnpack)", True, _mobile_tutorial),
             BenchVariant("openvino-bf16", "openvino (CPU)", True, _openvino("bf16"), torch_ops=False),
             BenchVariant("openvino-int8", "openvino (CPU), NNCF int8", True, _openvino("int8"), torch_ops=False)]
    return {r.name: r for r in rows}


BENCH_VARIANTS: dict[str, BenchVariant] = _variants()
