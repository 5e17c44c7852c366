"""What this machine can do, for picking a training precision and labelling timings.

A leaf module: torch and the standard library only.
"""
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

__all__ = ["CpuInfo", "FLAGS", "parse_cpuinfo", "cpu_info", "native_bf16", "machine_class"]

# the instruction sets that decide int8 and bf16 speed on x86
FLAGS = ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "amx_tile")


@dataclass(frozen=True)
class CpuInfo:
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
    return f"{' '.join(filter(None, (arch, info.model)))}, {info.capability}{flags}"
