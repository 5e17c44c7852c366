"""What this machine can do, for picking a training precision and labelling timings.

A leaf module: torch and the standard library only.
"""
import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

__all__ = ["CpuInfo", "FLAGS", "parse_cpuinfo", "cpu_info", "native_bf16", "machine_class", "int8_vnni",
           "PrecisionPlan", "precision_plan", "cpu_record"]

# the instruction sets that decide int8 and bf16 speed on x86
FLAGS = ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class CpuInfo:
    """This machine's CPU: architecture, vendor, model name, ATen's kernel level and its int8/bf16 flags."""
    arch: str                   # platform.machine(): x86_64, aarch64, ...
    vendor: str                 # GenuineIntel, AuthenticAMD; empty where unknown
    model: str                  # "AMD EPYC 9654 96-Core Processor"
    capability: str             # the kernels ATen dispatches to: "AVX512", "AVX2", "DEFAULT", ...
    flags: tuple[str, ...]      # those of FLAGS the CPU reports, in FLAGS' order


def parse_cpuinfo(text: str) -> tuple[str, str, tuple[str, ...]]:
    """(vendor, model name, flags among FLAGS) of the first processor in /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    present = set(fields.get("flags", "").split())
    model = " ".join(fields.get("model name", "").split())
    return fields.get("vendor_id", ""), model, tuple(f for f in FLAGS if f in present)


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU, read once from /proc/cpuinfo (without it: no vendor or flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        text = ""
    vendor, model, flags = parse_cpuinfo(text)
    return CpuInfo(platform.machine(), vendor, model or platform.processor(),
                   torch.backends.cpu.get_cpu_capability(), flags)


def native_bf16(info: CpuInfo | None = None) -> bool:
    """Whether bf16 runs natively (AVX512-BF16 or AMX) and ATen uses it. Emulated bf16 on an
    AVX2-only CPU trained about 7x slower than fp32, so anything less means fp32."""
    info = info or cpu_info()
    return info.capability.startswith("AVX512") and any(f in info.flags for f in ("avx512_bf16", "amx_bf16"))


def machine_class(device: str | torch.device = "cpu") -> str:
    """A short label for timings: "x86-64 AMD EPYC, AVX512 (avx512_vnni, avx512_bf16)" or "CUDA NVIDIA H100 ..."."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}"
    info = cpu_info()
    arch = {"x86_64": "x86-64", "AMD64": "x86-64", "aarch64": "arm64"}.get(info.arch, info.arch)
    flags = f" ({', '.join(info.flags)})" if info.flags else ""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")  # an emulated lesser CPU
    onednn = f", oneDNN {cap}" if cap else ""
    return f"{' '.join(filter(None, (arch, info.model)))}, {info.capability}{flags}{onednn}"


# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA) under which its int8 kernels have no VNNI dot product
_NO_VNNI_CAPS = ("SSE41", "AVX", "AVX2", "AVX512_CORE")


def int8_vnni(info: CpuInfo | None = None) -> bool:
    """Whether oneDNN's int8 kernels multiply with VNNI here. Without it, u8 x s8 products are summed in
    int16 and can saturate: the x86 int8 file lost 5 points of accuracy on an AVX2-only EPYC."""
    info = info or cpu_info()
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in _NO_VNNI_CAPS:
        return False
    return any(f in info.flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


@dataclass(frozen=True)
class PrecisionPlan:
    """The precisions this CPU runs well, and why: recorded in manifests and benchmarks."""
    int8_reduce_range: bool     # 7-bit activations, so int16 sums cannot saturate without VNNI
    bf16: bool                  # bf16 only where it is native; emulated it ran 7x slower than fp32

    def describe(self) -> dict[str, str]:
        """The plan in words: int8 activations and bf16, each with its reason."""
        return {"int8_activations": "7-bit (reduce_range): no VNNI, int8 dot products could saturate"
                if self.int8_reduce_range else "8-bit: VNNI int8 dot products",
                "bf16": "native" if self.bf16 else "not used: this CPU would emulate it (slower than fp32)"}


def precision_plan(info: CpuInfo | None = None) -> PrecisionPlan:
    """The precision plan of a CPU (default: this one): 7-bit int8 activations without VNNI, bf16 only if native."""
    info = info or cpu_info()
    return PrecisionPlan(int8_reduce_range=not int8_vnni(info), bf16=native_bf16(info))


def cpu_record() -> dict:
    """What a manifest or benchmark says of the CPU it ran on."""
    info = cpu_info()
    return {"class": machine_class(), "model": info.model, "capability": info.capability, "flags": list(info.flags),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"), "precision": precision_plan(info).describe()}
