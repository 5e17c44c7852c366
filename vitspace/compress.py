"""Compress a model into deployable files: `python -m vitspace.compress --model NAME --out DIR [...]`.

One file per variant in DIR, each written atomically (a temporary name, then a rename):

| file | what | runs in |
|---|---|---|
| `fp32.pt` | TorchScript, traced and frozen | torch.jit |
| `int8.pt` | dynamic int8 `nn.Linear` layers (torch.ao), TorchScript | torch.jit |
| `int8-mobile.pt` | int8 after `optimize_for_mobile` (portable passes where torch lacks XNNPACK) | torch.jit |
| `int8-mobile.ptl` | the same for the lite interpreter (PyTorch Mobile, Android/iOS) | lite interpreter |
| `model.pte`, `model-int8.pte` | ExecuTorch, XNNPACK delegate; int8 by PT2E, XNNPACK quantizer | executorch.runtime |
| `model.onnx`, `model-int8.onnx` | ONNX (dynamo exporter); int8 by ONNX Runtime dynamic quantization | onnxruntime |
| `model-int8-x86.pt2` | the fast x86 CPU path: static int8 by PT2E with the X86 inductor quantizer, an exported program | torch.compile (inductor) |

DIR/manifest.json records each file's size, sha256, the passes that ran and its fidelity: the file is
loaded in its own runtime and run on real images, one at a time, against the eager fp32 model.
Calibration and fidelity images come from --eval-data (an ImageFolder, which also gives accuracy) or
the repository's examples/; int8 calibration uses a subset of the same images. A variant that fails
is recorded as failed with the reason, and the others still build. Exit status 1 when any variant
failed, 2 on bad arguments or a model that cannot be loaded.
"""
import argparse
import hashlib
import importlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = ["Variant", "VARIANTS", "Built", "CompressConfig", "Fidelity", "FileEntry", "Manifest", "compress",
           "build_key", "usage_snippet", "pick_engine", "quantized_engine", "to_torchscript", "quantize_int8",
           "to_mobile", "to_lite", "quantize_pt2e", "quantize_x86", "to_executorch", "to_onnx", "quantize_onnx",
           "MissingBackendError", "compress_cached", "zip_build", "default_builds", "version_of", "main"]

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"    # staging folders in the output folder, gone when a build ends
_ARM = ("arm64", "aarch64", "armv7l", "armv8l")


class MissingBackendError(ImportError):
    """An optional runtime is not installed; the message says what to install."""


def _require(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingBackendError(f"{package} is not installed (`pip install {package}`): {e}") from e


@contextmanager
def _expected_deprecations():
    # TorchScript, the lite interpreter and torch.ao quantization are deprecated upstream in favour of
    # ExecuTorch; building them anyway is the point of this module, so their warnings are noise here
    with warnings.catch_warnings():
        for category in (FutureWarning, DeprecationWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        yield


# --- quantized engine -----------------------------------------------------------------------------

def pick_engine(requested: str = "auto") -> str:
    """The quantized engine for int8 TorchScript: `requested`, or the best one for this CPU.

    x86-64 gets x86 (onednn or fbgemm on builds without it); qnnpack, the ARM engine, ran 3.7x
    slower than fp32 on x86, so it is never picked there unless asked for.
    """
    supported = torch.backends.quantized.supported_engines
    if requested != "auto":
        if requested not in supported:
            raise ValueError(f"quantized engine {requested!r} is not in this torch build; "
                             f"it has {', '.join(supported)}")
        return requested
    order = ("qnnpack",) if platform.machine().lower() in _ARM else ("x86", "onednn", "fbgemm")
    for engine in order:
        if engine in supported:
            return engine
    raise RuntimeError(f"no quantized engine for {platform.machine()} in this torch build (it has {supported})")


@contextmanager
def quantized_engine(engine: str):
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield engine
    finally:
        torch.backends.quantized.engine = previous


# --- conversions, one job each --------------------------------------------------------------------

def to_torchscript(model: nn.Module, *, example: torch.Tensor, freeze: bool = True) -> torch.jit.ScriptModule:
    """Traced, and frozen unless asked not to (weights become graph constants, submodules inlined)."""
    with torch.no_grad(), _expected_deprecations():
        script = torch.jit.trace(model, example).eval()
        return torch.jit.freeze(script) if freeze else script


def quantize_int8(model: nn.Module) -> nn.Module:
    """nn.Linear layers with int8 weights and dynamically quantized activations (the current engine)."""
    with _expected_deprecations():
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def _xnnpack_enabled() -> bool:
    import torch.backends.xnnpack
    return bool(torch.backends.xnnpack.enabled)


# optimize_for_mobile's passes that need no XNNPACK. Left out on purpose: torch.jit.freeze, because frozen
# int8 weights become graph constants that the lite format stores twice (5.5 MB instead of 3.1 MB for
# deit-tiny-cifar10), and optimize_for_inference, whose MKLDNN ops mobile runtimes lack (saving its output
# for the lite interpreter segfaults)
_PORTABLE_PASSES: dict[str, Callable[[torch.jit.ScriptModule], None]] = {
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
    if _xnnpack_enabled():
        from torch.utils.mobile_optimizer import optimize_for_mobile
        return optimize_for_mobile(script), ["torch.utils.mobile_optimizer.optimize_for_mobile"], []
    notes = [("optimize_for_mobile unavailable: this torch build has no XNNPACK (torch.backends.xnnpack.enabled "
              "is False; it raises 'XNNPACK is not enabled'), so its portable passes ran instead"),
             "torch.jit.freeze skipped: the lite format would store frozen int8 weights twice",
             "torch.jit.optimize_for_inference skipped: its MKLDNN rewrites are not portable to mobile runtimes"]
    passes = []
    for name, run in _PORTABLE_PASSES.items():
        run(script)
        passes.append(name)
    return script, passes, notes


def to_lite(script: torch.jit.ScriptModule, path: Path) -> list[str]:
    """Saved for the lite interpreter; returns notes (the bytecode version mobile runtimes must read)."""
    from torch.jit.mobile import _get_model_bytecode_version
    with _expected_deprecations():
        script._save_for_lite_interpreter(str(path))
        return [f"lite interpreter bytecode version {_get_model_bytecode_version(str(path))}"]


def quantize_pt2e(model: nn.Module, *, example: torch.Tensor, calibration: list[torch.Tensor],
                  dynamic: bool = False) -> nn.Module:
    """Int8 by PT2E with the XNNPACK quantizer: symmetric per-channel weights; activations static
    (ranges calibrated on `calibration`) or dynamic (measured per input at run time, no calibration)."""
    if not dynamic and not calibration:
        raise ValueError("static int8 needs calibration inputs")
    _require("executorch", "executorch")
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    prepared = prepare_pt2e(torch.export.export(model, (example,)).module(), XNNPACKQuantizer().set_global(config))
    with torch.no_grad():  # dynamic too needs one pass: the weight observers see the weights in forward
        for x in [example] if dynamic else calibration:
            prepared(x)
    return convert_pt2e(prepared)


def quantize_x86(model: nn.Module, *, example: torch.Tensor, calibration: list[torch.Tensor]) -> nn.Module:
    """Static int8 by PT2E with the X86 inductor quantizer (oneDNN int8 kernels after torch.compile):
    per-channel weights folded to int8, activation ranges calibrated on `calibration`; batch dynamic."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise RuntimeError(f"the x86 int8 path needs an x86-64 CPU, not {platform.machine()}")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer, get_default_x86_inductor_quantization_config)
    quantizer = X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config())
    with torch.no_grad():
        prepared = prepare_pt2e(_export_batched(model, example).module(), quantizer)
        for x in calibration:
            prepared(x)
        converted = convert_pt2e(prepared)
    _drop_unused_state(converted)
    return converted


def _export_batched(model: nn.Module, example: torch.Tensor) -> "torch.export.ExportedProgram":
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


def to_executorch(model: nn.Module, *, example: torch.Tensor) -> bytes:
    """An ExecuTorch program with the XNNPACK delegate, for inputs of example's shape."""
    exir = _require("executorch.exir", "executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    program = torch.export.export(model, (example,))
    return exir.to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer


def to_onnx(model: nn.Module, *, example: torch.Tensor) -> "torch.onnx.ONNXProgram":
    """ONNX by the dynamo exporter (torch's default; it handles timm and transformers ViTs), batch dynamic."""
    _require("onnxscript", "onnxscript")
    batch = torch.export.Dim("batch", min=1, max=1024)
    return torch.onnx.export(model, (example,), dynamo=True, input_names=["pixel_values"],
                             output_names=["logits"], dynamic_shapes=({0: batch},), verbose=False)


def _save_onnx(program: "torch.onnx.ONNXProgram", path: Path) -> None:
    program.save(str(path), external_data=False)  # one self-contained file; protobuf caps that at 2 GB


def quantize_onnx(src: Path, dst: Path) -> None:
    """Int8 weights, activations quantized at run time (ONNX Runtime dynamic quantization)."""
    quantization = _require("onnxruntime.quantization", "onnxruntime")
    quantization.quantize_dynamic(str(src), str(dst), weight_type=quantization.QuantType.QInt8)


# --- variants -------------------------------------------------------------------------------------

@dataclass
class _Context:
    """What the builders share: the eager model, inputs, and intermediate results made once."""
    model: nn.Module
    example: torch.Tensor               # (1, 3, H, W)
    calibration: list[torch.Tensor]     # each (1, 3, H, W)
    engine: str
    pt2e: str = "static"                # activations of model-int8.pte: static or dynamic
    made: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]


@dataclass
class Built:
    passes: list[str]
    notes: list[str] = field(default_factory=list)


Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Variant:
    file: str                                       # file name in the output folder
    format: str                                     # torchscript, torchscript-lite, executorch, onnx
    runtime: str                                    # what loads and runs it
    precision: str                                  # fp32 or int8
    build: Callable[[_Context, Path], Built]        # writes the file at the path given
    load: Callable[[Path], Runner]                  # the file as pixels (1, 3, H, W) -> logits


_INT8_TRACE = ["torch.ao.quantization.quantize_dynamic(nn.Linear, qint8)", "torch.jit.trace"]
_ONNX_EXPORT = "torch.onnx.export(dynamo=True, dynamic batch)"
_LOWER = ["torch.export.export", "to_edge_transform_and_lower(XnnpackPartitioner)", "to_executorch"]


def _int8_eager(ctx: _Context) -> nn.Module:
    return ctx.once("int8", lambda: quantize_int8(ctx.model))


def _mobile(ctx: _Context) -> tuple[torch.jit.ScriptModule, list[str], list[str]]:
    return ctx.once("mobile", lambda: to_mobile(to_torchscript(_int8_eager(ctx), example=ctx.example, freeze=False)))


def _build_fp32_ts(ctx: _Context, path: Path) -> Built:
    to_torchscript(ctx.model, example=ctx.example).save(str(path))
    return Built(["torch.jit.trace", "torch.jit.freeze"])


def _build_int8_ts(ctx: _Context, path: Path) -> Built:
    to_torchscript(_int8_eager(ctx), example=ctx.example).save(str(path))
    return Built(_INT8_TRACE + ["torch.jit.freeze"], [f"quantized engine {ctx.engine}"])


def _build_mobile(ctx: _Context, path: Path) -> Built:
    module, passes, notes = _mobile(ctx)
    module.save(str(path))
    return Built(_INT8_TRACE + passes, [f"quantized engine {ctx.engine}"] + notes)


def _build_lite(ctx: _Context, path: Path) -> Built:
    module, passes, notes = _mobile(ctx)
    lite_notes = to_lite(module, path)
    return Built(_INT8_TRACE + passes + ["_save_for_lite_interpreter"],
                 [f"quantized engine {ctx.engine}"] + notes + lite_notes)


def _build_pte(ctx: _Context, path: Path) -> Built:
    path.write_bytes(to_executorch(ctx.model, example=ctx.example))
    return Built(list(_LOWER))


def _build_pte_int8(ctx: _Context, path: Path) -> Built:
    dynamic = ctx.pt2e == "dynamic"
    quantized = quantize_pt2e(ctx.model, example=ctx.example, calibration=ctx.calibration, dynamic=dynamic)
    path.write_bytes(to_executorch(quantized, example=ctx.example))
    calibrate = [] if dynamic else [f"calibrate on {len(ctx.calibration)} images"]
    return Built(["torch.export.export", f"prepare_pt2e(XNNPACKQuantizer, symmetric, per-channel, {ctx.pt2e})",
                  *calibrate, "convert_pt2e", *_LOWER])


def _build_x86(ctx: _Context, path: Path) -> Built:
    quantized = quantize_x86(ctx.model, example=ctx.example, calibration=ctx.calibration)
    torch.export.save(_export_batched(quantized, ctx.example), str(path))
    return Built(["torch.export.export(dynamic batch)", "prepare_pt2e(X86InductorQuantizer, static)",
                  f"calibrate on {len(ctx.calibration)} images", "convert_pt2e", "torch.export.save"],
                 ["run with torch.compile and inductor freezing: oneDNN int8 kernels for x86 (VNNI, AMX)"])


def _onnx(ctx: _Context) -> "torch.onnx.ONNXProgram":
    return ctx.once("onnx", lambda: to_onnx(ctx.model, example=ctx.example))


def _build_onnx(ctx: _Context, path: Path) -> Built:
    _save_onnx(_onnx(ctx), path)
    return Built([_ONNX_EXPORT])


def _build_onnx_int8(ctx: _Context, path: Path) -> Built:
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        _save_onnx(_onnx(ctx), fp32)
        quantize_onnx(fp32, path)
    return Built([_ONNX_EXPORT, "onnxruntime.quantization.quantize_dynamic(QInt8)"])


def _load_ts(path: Path) -> Runner:
    with _expected_deprecations():
        module = torch.jit.load(str(path)).eval()
    return module


def _load_lite(path: Path) -> Runner:
    from torch.jit.mobile import _load_for_lite_interpreter
    with _expected_deprecations():
        return _load_for_lite_interpreter(str(path))


def _load_pte(path: Path) -> Runner:
    runtime = _require("executorch.runtime", "executorch")
    program = runtime.Runtime.get().load_program(path)
    method = program.load_method("forward")
    return lambda x, _keep=program: method.execute([x.contiguous()])[0]


def _load_x86(path: Path) -> Runner:
    """The exported program compiled by inductor with freezing, which lowers int8 to oneDNN kernels."""
    # registers the quantized_decomposed ops the program names and inductor's int8 fusion passes for x86
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401
    from torch._inductor import config
    compiled = torch.compile(torch.export.load(str(path)).module(), dynamic=False)

    def run(x: torch.Tensor) -> torch.Tensor:
        with config.patch(freezing=True):  # compile(options=...) does not reach the freezing passes
            return compiled(x)
    return run


def _load_onnx(path: Path) -> Runner:
    ort = _require("onnxruntime", "onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


VARIANTS: dict[str, Variant] = {v.file: v for v in [
    Variant("fp32.pt", "torchscript", "torch.jit", "fp32", _build_fp32_ts, _load_ts),
    Variant("int8.pt", "torchscript", "torch.jit", "int8", _build_int8_ts, _load_ts),
    Variant("int8-mobile.pt", "torchscript", "torch.jit", "int8", _build_mobile, _load_ts),
    Variant("int8-mobile.ptl", "torchscript-lite", "lite interpreter", "int8", _build_lite, _load_lite),
    Variant("model.pte", "executorch", "executorch.runtime (XNNPACK)", "fp32", _build_pte, _load_pte),
    Variant("model-int8.pte", "executorch", "executorch.runtime (XNNPACK)", "int8", _build_pte_int8, _load_pte),
    Variant("model.onnx", "onnx", "onnxruntime (CPUExecutionProvider)", "fp32", _build_onnx, _load_onnx),
    Variant("model-int8.onnx", "onnx", "onnxruntime (CPUExecutionProvider)", "int8", _build_onnx_int8, _load_onnx),
    Variant("model-int8-x86.pt2", "pt2", "torch.compile (inductor, x86)", "int8", _build_x86, _load_x86),
]}


# --- configuration and results --------------------------------------------------------------------

@dataclass(frozen=True)
class CompressConfig:
    model: str                                  # registry name or local transformers folder
    out: Path                                   # output folder, created if missing
    formats: tuple[str, ...] = tuple(VARIANTS)  # file names from VARIANTS
    engine: str = "auto"                        # quantized engine for int8 TorchScript; auto: by CPU
    eval_data: Path | None = None               # ImageFolder DIR/<class>/*: images and accuracy
    limit: int = 100                            # fidelity images at most, spread over the classes
    calibration_images: int = 16                # of those, used to calibrate static int8 (PT2E)
    pte_int8: str = "static"                    # model-int8.pte activations: "static" (calibrated) or "dynamic"
    pretrained: bool = True                     # False: architecture only, random weights


@dataclass
class Fidelity:
    images: int
    top1_agreement: float           # fraction of images whose top-1 label matches eager fp32
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    accuracy: float | None = None   # top-1, with --eval-data
    max_rel_logit_diff: float | None = None  # per image max |d logit| / max |fp32 logit|, worst image


@dataclass
class FileEntry:
    file: str
    format: str
    runtime: str
    precision: str
    status: str                     # "ok" or "failed"
    passes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    sha256: str | None = None
    fidelity: Fidelity | None = None
    build_s: float | None = None
    reason: str | None = None       # why it failed


@dataclass
class Manifest:
    model: str
    weights: str                    # "pretrained" or "architecture-only"
    weights_source: str             # embedded, cache, hub, local or random
    engine: str
    build_key: str
    versions: dict[str, str | None]
    input_shape: list[int]
    images: dict                    # source, count, calibration count
    eager_accuracy: float | None
    files: list[FileEntry]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        files = [FileEntry(**{**f, "fidelity": Fidelity(**f["fidelity"]) if f.get("fidelity") else None})
                 for f in d["files"]]
        return cls(**{**d, "files": files})

    @property
    def failed(self) -> list[str]:
        return [f.file for f in self.files if f.status != "ok"]

    def rows(self) -> list[dict]:
        """One row per file for a table: size, times smaller than fp32.pt, fidelity, passes."""
        sizes = {f.file: f.size_bytes for f in self.files if f.size_bytes}
        base = sizes.get("fp32.pt")
        rows = []
        for f in self.files:
            fid = f.fidelity
            rows.append({
                "file": f.file, "format": f.format, "runtime": f.runtime, "status": f.status,
                "size_mb": round(f.size_bytes / 1e6, 2) if f.size_bytes else None,
                "times_smaller": round(base / f.size_bytes, 2) if base and f.size_bytes else None,
                "top1_agreement": fid.top1_agreement if fid else None,
                "max_abs_logit_diff": fid.max_abs_logit_diff if fid else None,
                "accuracy": fid.accuracy if fid else None,
                "passes": ", ".join(f.passes), "notes": " ".join(f.notes) or (f.reason or "")})
        return rows


# --- images ---------------------------------------------------------------------------------------

@dataclass
class _Images:
    images: list[Image.Image]
    targets: list[int] | None       # label indices, with an ImageFolder
    source: str


def _spread(items: list, n: int) -> list:
    return items[::max(1, len(items) // n)][:n]


def _folder_images(root: Path, clf, limit: int) -> _Images:
    from .data import list_image_folder
    from .evaluate import _class_targets
    from .images import load_image
    items, classes = list_image_folder(root)
    items = _spread(items, limit)
    targets = _class_targets(classes, clf)
    return _Images([load_image(p) for p, _ in items], [targets[c] for _, c in items], f"eval-data {root}")


def _example_images(limit: int) -> _Images:
    from .data import IMAGE_SUFFIXES
    from .images import load_image
    paths = sorted(p for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) \
        if EXAMPLES_DIR.is_dir() else []
    if paths:
        return _Images([load_image(p) for p in _spread(paths, limit)], None, "examples")
    rng = np.random.default_rng(0)  # no examples folder (an installed package): smooth random images
    images = [Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((64, 64), Image.BICUBIC)
              for _ in range(min(limit, 8))]
    return _Images(images, None, "synthetic")


# --- building -------------------------------------------------------------------------------------

def version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _versions() -> dict[str, str | None]:
    return {p: version_of(p) for p in ("torch", "executorch", "torchao", "onnx", "onnxruntime", "timm",
                                       "transformers")}


def default_builds() -> Path:
    """Where cached builds live: $VITSPACE_BUILDS, else ~/.cache/vitspace/builds."""
    from .data import cache_dir
    return Path(os.environ.get("VITSPACE_BUILDS") or cache_dir() / "builds")


def _stat_identity(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _weights_identity(model: str, pretrained: bool) -> str:
    """Which weights a build would use, without loading them: a file's path, size and mtime."""
    if not pretrained:
        return "random"
    if Path(model).is_dir():
        return ";".join(_stat_identity(p) for p in sorted(Path(model).iterdir()) if p.is_file())
    from .registry import get_spec
    spec = get_spec(model)
    if spec.source == "embedded":
        return _stat_identity(spec.weights_file) if spec.weights_file.exists() else "missing"
    from huggingface_hub import try_to_load_from_cache
    for name in ("model.safetensors", "pytorch_model.bin"):
        cached = try_to_load_from_cache(spec.repo_id, name)
        if isinstance(cached, str):  # .../snapshots/<commit>/<file>: names the revision
            return _stat_identity(Path(cached))
    return f"hub:{spec.repo_id}"


def build_key(config: CompressConfig) -> str:
    """A hash of what decides the files: model, weights, formats, engine, images and library versions."""
    parts = {"model": config.model, "weights": _weights_identity(config.model, config.pretrained),
             "formats": sorted(config.formats), "engine": pick_engine(config.engine),
             "eval_data": str(Path(config.eval_data).resolve()) if config.eval_data else None,
             "limit": config.limit, "calibration_images": config.calibration_images, "pte_int8": config.pte_int8,
             "versions": _versions()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def _atomic(path: Path):
    """A path of the same name in a hidden folder beside `path`, moved onto it when the block succeeds.

    Same name, because TorchScript names the archive inside the file after it.
    """
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=TMP_PREFIX) as tmp:
        staged = Path(tmp) / path.name
        yield staged
        os.replace(staged, path)


@dataclass
class _Probe:
    """The fidelity images with the eager fp32 model's answers."""
    pixels: list[torch.Tensor]          # each (1, 3, H, W)
    reference: torch.Tensor             # (N, num_labels) eager fp32 logits
    targets: list[int] | None           # label indices, with an ImageFolder
    source: str

    @classmethod
    def of(cls, model: nn.Module, preprocess: Callable, images: _Images) -> "_Probe":
        pixels = [preprocess([im]) for im in images.images]
        with torch.no_grad():
            reference = torch.cat([model(torch.cat(pixels[i:i + 32])).float() for i in range(0, len(pixels), 32)])
        return cls(pixels, reference, images.targets, images.source)

    def accuracy(self, logits: torch.Tensor) -> float | None:
        return (logits.argmax(1) == torch.tensor(self.targets)).float().mean().item() if self.targets else None

    def measure(self, run: Runner) -> Fidelity:
        with torch.no_grad():
            logits = torch.cat([run(x).float().reshape(1, -1) for x in self.pixels])
        diff = (logits - self.reference).abs()
        agreement = (logits.argmax(1) == self.reference.argmax(1)).float().mean().item()
        relative = (diff.amax(1) / self.reference.abs().amax(1).clamp_min(1e-12)).max().item()
        return Fidelity(len(self.pixels), agreement, diff.max().item(), diff.mean().item(), self.accuracy(logits),
                        relative)


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def _build_one(variant: Variant, ctx: _Context, out: Path, probe: _Probe, say: Callable[[str], None]) -> FileEntry:
    entry = FileEntry(variant.file, variant.format, variant.runtime, variant.precision, status="failed")
    path = out / variant.file
    t0 = time.perf_counter()
    try:
        say(f"{variant.file}: building")
        with _atomic(path) as tmp, _expected_deprecations():
            built = variant.build(ctx, tmp)
        entry.passes, entry.notes = built.passes, built.notes
        entry.build_s = round(time.perf_counter() - t0, 2)
        say(f"{variant.file}: measuring in {variant.runtime}")
        entry.fidelity = probe.measure(variant.load(path))
        entry.size_bytes, entry.sha256, entry.status = path.stat().st_size, _sha256(path), "ok"
    except Exception as e:  # one variant's failure is recorded; the others still build
        entry.reason = _reason(e)
        path.unlink(missing_ok=True)  # no file that is not known to work, nor a stale one from an earlier build
        say(f"{variant.file}: failed: {entry.reason}")
    return entry


def _check(config: CompressConfig) -> None:
    unknown = [f for f in config.formats if f not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; known: {', '.join(VARIANTS)}")
    if config.limit < 1 or config.calibration_images < 1:
        raise ValueError("limit and calibration_images must be at least 1")
    if config.pte_int8 not in ("static", "dynamic"):
        raise ValueError(f"pte_int8 must be 'static' or 'dynamic', not {config.pte_int8!r}")


def compress(config: CompressConfig, progress: Callable[[str], None] | None = None) -> Manifest:
    """Build every requested variant in config.out, measure each in its own runtime, write manifest.json."""
    from .classifier import get_classifier
    _check(config)
    say = progress or (lambda message: None)
    engine = pick_engine(config.engine)
    clf = get_classifier(config.model, pretrained=config.pretrained)
    images = _folder_images(Path(config.eval_data), clf, config.limit) if config.eval_data \
        else _example_images(config.limit)
    probe = _Probe.of(clf.module, clf.preprocess, images)
    calibration = _spread(probe.pixels, config.calibration_images)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with quantized_engine(engine):
        ctx = _Context(clf.module, probe.pixels[0], calibration, engine, config.pte_int8)
        files = [_build_one(VARIANTS[f], ctx, out, probe, say) for f in config.formats]
    manifest = Manifest(clf.spec.name, "pretrained" if config.pretrained else "architecture-only", clf.weights,
                        engine, build_key(config), _versions(), list(probe.pixels[0].shape),
                        {"source": probe.source, "count": len(probe.pixels), "calibration": len(calibration)},
                        probe.accuracy(probe.reference), files)
    with _atomic(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest.to_dict(), indent=2))
    return manifest


_key_locks: dict[str, threading.Lock] = {}
_key_guard = threading.Lock()


def compress_cached(config: CompressConfig, root: str | Path,
                    progress: Callable[[str], None] | None = None) -> tuple[Path, Manifest]:
    """Build into ROOT/<build key>, once: a build with the same key is reused, and concurrent callers
    of one key wait for a single build. config.out is ignored."""
    key = build_key(config)
    out = Path(root) / key
    with _key_guard:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        if (out / MANIFEST).exists():
            return out, Manifest.from_dict(json.loads((out / MANIFEST).read_text()))
        return out, compress(replace(config, out=out), progress)


def zip_build(out: str | Path) -> Path:
    """The manifest and every built file of a build folder in one zip (written once, atomically)."""
    out = Path(out)
    manifest = json.loads((out / MANIFEST).read_text())
    target = out / f"{manifest['model']}-{out.name}.zip"
    if not target.exists():
        names = [MANIFEST] + [f["file"] for f in manifest["files"] if f["status"] == "ok"]
        with _atomic(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name in names:
                z.write(out / name, name)
    return target


# --- usage ----------------------------------------------------------------------------------------

_SNIPPETS = {
    "torchscript": '''import torch

model = torch.jit.load("{file}").eval()
pixels = torch.rand(1, 3, {size}, {size})  # preprocessed as for the original model
with torch.inference_mode():
    logits = model(pixels)
''',
    "torchscript-lite": '''// Android (Kotlin), build.gradle: implementation("org.pytorch:pytorch_android_lite:1.13.1")
import org.pytorch.IValue
import org.pytorch.LiteModuleLoader
import org.pytorch.Tensor

// assetFilePath: the PyTorch Android demos' helper that copies an asset to a file and returns its path
val module = LiteModuleLoader.load(assetFilePath(context, "{file}"))
val pixels = Tensor.fromBlob(FloatArray(3 * {size} * {size}), longArrayOf(1, 3, {size}, {size}))  // preprocessed
val logits = module.forward(IValue.from(pixels)).toTensor().dataAsFloatArray

// Python: from torch.jit.mobile import _load_for_lite_interpreter; _load_for_lite_interpreter("{file}")(pixels)
''',
    "executorch": '''import torch
from executorch.runtime import Runtime

method = Runtime.get().load_program("{file}").load_method("forward")
pixels = torch.rand(1, 3, {size}, {size})  # preprocessed as for the original model; batch 1 only
logits = method.execute([pixels])[0]
''',
    "onnx": '''import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("{file}", providers=["CPUExecutionProvider"])
pixels = np.random.rand(1, 3, {size}, {size}).astype(np.float32)  # preprocessed; any batch size
logits = session.run(None, {{"pixel_values": pixels}})[0]
''',
}


_SNIPPETS["pt2"] = '''import torch

import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # registers the int8 ops and passes

# x86-64 CPUs; the first call compiles (seconds to minutes), later calls run oneDNN int8 kernels
torch._inductor.config.freezing = True
model = torch.compile(torch.export.load("{file}").module())
pixels = torch.rand(1, 3, {size}, {size})  # preprocessed as for the original model; any batch size
with torch.no_grad():
    logits = model(pixels)
'''


def usage_snippet(variant_file: str | Path, *, input_size: int = 224) -> str:
    """Code that loads and runs a variant file in its runtime (Kotlin for the lite interpreter)."""
    name = Path(variant_file).name
    if name not in VARIANTS:
        raise ValueError(f"unknown variant file {name!r}; known: {', '.join(VARIANTS)}")
    return _SNIPPETS[VARIANTS[name].format].format(file=name, size=input_size)


# --- command line ---------------------------------------------------------------------------------

def _print_text(manifest: Manifest, out: Path) -> None:
    print(f"{manifest.model} ({manifest.weights}), engine {manifest.engine}, "
          f"{manifest.images['count']} images from {manifest.images['source']} -> {out}")
    if manifest.eager_accuracy is not None:
        print(f"  eager fp32 accuracy {manifest.eager_accuracy:.2%}")
    for f in manifest.files:
        if f.status != "ok":
            print(f"  {f.file:<18} FAILED  {f.reason}")
            continue
        fid = f.fidelity
        acc = f"  accuracy {fid.accuracy:.2%}" if fid.accuracy is not None else ""
        print(f"  {f.file:<18} {f.size_bytes / 1e6:7.2f} MB  top-1 agreement {fid.top1_agreement:.2%}  "
              f"max |dlogit| {fid.max_abs_logit_diff:.3g} (relative {fid.max_rel_logit_diff:.2g}){acc}")


def main(argv=None) -> int:
    from . import USER_ERRORS
    p = argparse.ArgumentParser(prog="python -m vitspace.compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="registry name or local transformers folder")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--formats", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="FILE",
                   help=f"files to build (default all): {' '.join(VARIANTS)}")
    p.add_argument("--engine", default="auto", choices=["auto", "x86", "onednn", "fbgemm", "qnnpack"],
                   help="quantized engine for int8 TorchScript (auto: x86 on x86-64, qnnpack on ARM)")
    p.add_argument("--eval-data", type=Path, help="ImageFolder DIR/<class>/*: fidelity images and accuracy")
    p.add_argument("--limit", type=int, default=100, help="fidelity images at most (default 100)")
    p.add_argument("--pte-int8", choices=["static", "dynamic"], default="static",
                   help="model-int8.pte activations: static, calibrated on the images (default), or dynamic")
    p.add_argument("--random-weights", action="store_true", help="architecture only: no weights needed")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = p.parse_args(argv)
    config = CompressConfig(args.model, args.out, tuple(dict.fromkeys(args.formats)), args.engine, args.eval_data,
                            args.limit, pte_int8=args.pte_int8, pretrained=not args.random_weights)
    try:
        manifest = compress(config, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except (*USER_ERRORS, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(manifest.to_dict(), indent=2))
    else:
        _print_text(manifest, args.out)
    return 1 if manifest.failed else 0


if __name__ == "__main__":
    sys.exit(main())
