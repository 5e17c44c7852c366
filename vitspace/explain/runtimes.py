"""The runtimes an explained forward (`AttentionGraph`) can run in, as a registry: each builds its file once
(cached by the caller), loads it and runs it, returning an `Explained`.

A runtime's file is an artifact shared by the runtimes that read it: ONNX Runtime and OpenVINO both run
`explained.onnx` (OpenVINO converts it at load), ExecuTorch runs `explained.pte` (batch 1: a batch runs image by
image). Eager is the hooked PyTorch forward itself, the reference the others are checked against.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..export.variant import require
from ..util.cpuinfo import precision_plan
from ..util.registry import register_ordered
from .graph import AttentionGraph, Explained, eager_explained, from_outputs, output_names

__all__ = ["Runtime", "RUNTIMES", "register_runtime", "ARTIFACTS", "EAGER"]

Run = Callable[[torch.Tensor], Explained]   # preprocessed pixels (B, 3, H, W) -> the batch's answers


def _export_onnx(graph: AttentionGraph, example: torch.Tensor, path: Path) -> None:
    require("onnxscript", "onnxscript")
    batch = torch.export.Dim("batch", min=1, max=1024)
    two = torch.cat([example[:1]] * 2)  # an example of batch 1 would fix the batch size at 1
    program = torch.onnx.export(graph, (two,), dynamo=True, input_names=["pixel_values"],
                                output_names=output_names(graph), dynamic_shapes=({0: batch},), verbose=False)
    program.save(str(path), external_data=False)


def _export_pte(graph: AttentionGraph, example: torch.Tensor, path: Path) -> None:
    exir = require("executorch.exir", "executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    program = torch.export.export(graph, (example[:1],))
    path.write_bytes(exir.to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
                     .to_executorch().buffer)


ARTIFACTS: dict[str, Callable[[AttentionGraph, torch.Tensor, Path], None]] = {
    "explained.onnx": _export_onnx,      # file name -> how to write it from the graph and an input (1, 3, H, W)
    "explained.pte": _export_pte,
}


@dataclass(frozen=True)
class Runtime:
    """One way to run the explained forward: the file it needs, how to load it, and the facts a page shows."""
    name: str                                               # key in RUNTIMES and in the recorded choice
    title: str                                              # what the page calls it
    precision: str                                          # fp32 or bf16
    load: Callable[[AttentionGraph, Path | None, int], Run]  # (graph, its file or None, threads) -> run
    artifact: str | None = None                             # a file of ARTIFACTS; None: runs the module itself
    packages: tuple[tuple[str, str], ...] = ()              # (module, pip package) beyond torch
    usable: Callable[[], bool] = lambda: True               # whether to try it on this CPU at all
    order: int = 100                                        # tried in this order; ties in time go to the first


def _load_eager(graph: AttentionGraph, _path: Path | None, _threads: int) -> Run:
    return lambda pixels: eager_explained(graph.module, pixels)


def _load_onnxruntime(graph: AttentionGraph, path: Path, threads: int) -> Run:
    ort = require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda pixels: from_outputs(graph, session.run(None, {"pixel_values": pixels.numpy()}))


def _openvino(precision: str) -> Callable[[AttentionGraph, Path, int], Run]:
    def load(graph: AttentionGraph, path: Path, threads: int) -> Run:
        ov = require("openvino", "openvino")
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                  "INFERENCE_PRECISION_HINT": precision,
                  "CACHE_DIR": str(path.parent / "openvino-cache")}  # a restart loads the compiled model
        compiled = ov.Core().compile_model(ov.convert_model(str(path)), "CPU", config)
        request, n = compiled.create_infer_request(), len(compiled.outputs)
        return lambda pixels: from_outputs(graph, [r.copy() for r in request.infer({0: pixels.numpy()}).to_tuple()[:n]])
    return load


def _load_executorch(graph: AttentionGraph, path: Path, _threads: int) -> Run:
    runtime = require("executorch.runtime", "executorch")
    program = runtime.Runtime.get().load_program(path)
    method = program.load_method("forward")

    def run(pixels: torch.Tensor, _keep=program) -> Explained:
        per_image = [method.execute([pixels[i:i + 1].contiguous()]) for i in range(len(pixels))]  # batch 1 file
        return from_outputs(graph, [torch.cat([out[k] for out in per_image]) for k in range(len(per_image[0]))])
    return run


RUNTIMES: dict[str, Runtime] = {}


def register_runtime(runtime: Runtime) -> Runtime:
    """Add a runtime to RUNTIMES, replacing one of the same name, kept in order; returns it."""
    return register_ordered(RUNTIMES, runtime.name, runtime)


_ONNX = (("onnxscript", "onnxscript"),)
EAGER = register_runtime(Runtime("eager", "PyTorch (eager)", "fp32", _load_eager, order=0))
register_runtime(Runtime("onnxruntime", "ONNX Runtime", "fp32", _load_onnxruntime, "explained.onnx",
                         (*_ONNX, ("onnxruntime", "onnxruntime")), order=10))
register_runtime(Runtime("openvino", "OpenVINO", "fp32", _openvino("f32"), "explained.onnx",
                         (*_ONNX, ("openvino", "openvino")), order=20))
register_runtime(Runtime("executorch", "ExecuTorch (XNNPACK)", "fp32", _load_executorch, "explained.pte",
                         (("executorch", "executorch"),), order=30))
# bf16 only where the CPU runs it natively (emulated it is slower than fp32); it still has to pass the check
register_runtime(Runtime("openvino-bf16", "OpenVINO", "bf16", _openvino("bf16"), "explained.onnx",
                         (*_ONNX, ("openvino", "openvino")), usable=lambda: precision_plan().bf16, order=40))
