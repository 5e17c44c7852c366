"""Every benchmark variant, in BENCH_VARIANTS: eager PyTorch in fp32 and bf16, every file `vitspace.compress.build`
builds (each in its own runtime), and recipes run in memory. Each is vitspace's own or a peer, a recipe a user
would pick instead (`peer` set). `default_variants()` are those a run without named variants times.

The peers: the export backends' own (`peer=True` in `vitspace.export`: the ONNX files, OpenVINO's IR);
`mobile-tutorial-qnnpack`, the recipe of PyTorch's "Vision Transformer on mobile" tutorial, dynamic int8
`nn.Linear` layers on the qnnpack engine; and OpenVINO's model converted in memory, in bf16 and in int8 by
NNCF, its post-training recipe (`vitspace.export.to_openvino`).
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
from ..export import VARIANTS, Runner, openvino_config, quantize_int8, quantized_engine, require, to_openvino
from ..util.cpuinfo import precision_plan

__all__ = ["BenchContext", "BenchVariant", "BENCH_VARIANTS", "Skip", "entry", "default_variants"]

NOT_NATIVE_BF16 = "bf16 is not native on this CPU (no AVX512-BF16 or AMX): emulated, it runs slower than fp32"


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
    """One row of the benchmark: how to make its runner, and what the table says about it."""
    name: str
    runtime: str
    peer: bool
    prepare: Callable[[BenchContext], Runner]
    file: str | None = None         # the compress file it runs (size and fidelity from the manifest)
    torch_ops: bool = True          # the torch profiler sees its work (the tutorial's figure is meaningful)
    fixed_batch: bool = False       # exported for batch 1 only
    default: bool = True            # run when no variants are named (a file's: built by default, export.VARIANTS)


def entry(ctx: BenchContext, file: str | None) -> FileEntry | None:
    """The manifest's entry for a built file, where the context has a build and the variant runs a file."""
    if not (file and ctx.manifest):
        return None
    return next((f for f in ctx.manifest.files if f.file == file), None)


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
        try:
            ov = require("openvino", "openvino")
            if precision == "bf16" and not precision_plan().bf16:
                raise Skip(NOT_NATIVE_BF16)
            # int8: OpenVINO's post-training recipe, NNCF calibrated on the probe images
            model = to_openvino(ctx.model, example=ctx.probe.pixels[0],
                                calibration=ctx.probe.pixels if precision == "int8" else None)
        except MissingBackendError as e:
            raise Skip(str(e)) from None
        # int8 keeps OpenVINO's own choice for the layers it leaves unquantized
        config = openvino_config(threads=ctx.threads, bf16=precision == "bf16")
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


def _bench_variants() -> dict[str, BenchVariant]:
    rows = [BenchVariant("eager-fp32", "torch eager", False, _eager),
            BenchVariant("eager-bf16", "torch eager", False, _eager_bf16)]
    rows += [BenchVariant(v.file, v.runtime, v.peer, _file(v.file), v.file, v.torch_ops, v.fixed_batch, v.default)
             for v in VARIANTS.values()]
    rows += [BenchVariant("mobile-tutorial-qnnpack", "torch eager (qnnpack)", True, _mobile_tutorial),
             BenchVariant("openvino-bf16", "openvino (CPU)", True, _openvino("bf16"), torch_ops=False),
             BenchVariant("openvino-int8", "openvino (CPU), NNCF int8", True, _openvino("int8"), torch_ops=False)]
    return {r.name: r for r in rows}


# eager PyTorch, the registry's files in its order (its peers among them), then the peers run in memory
BENCH_VARIANTS: dict[str, BenchVariant] = _bench_variants()


def default_variants() -> tuple[str, ...]:
    """What a benchmark runs when no variants are named: eager PyTorch, the files built by default (their peers
    among them) and the peers run in memory; not the files built only on request (token merging's)."""
    return tuple(name for name, v in BENCH_VARIANTS.items() if v.default)
