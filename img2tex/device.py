"""Which torch device a command runs on, and whether it computes in bf16: one rule for training,
evaluation and prediction."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from img2tex.errors import ModelError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cpu' / 'cuda' as given (ModelError for cuda
    on a machine without one, instead of torch's assertion deep inside the first transfer)."""
    if device not in DEVICES:
        raise ModelError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda: no CUDA device is available here (use auto or cpu)")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (`native_bf16` of /proc/cpuinfo); False where it
    cannot be read."""
    try:
        return native_bf16(Path("/proc/cpuinfo").read_text(), platform.machine())
    except OSError:
        return False


def native_bf16(cpuinfo: str, machine: str) -> bool:
    """From /proc/cpuinfo's text: AVX512-BF16 or AMX on x86 (flags avx512_bf16, amx_bf16), the
    BF16 extension on Arm (feature bf16)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags = set(value.split())
            if machine.lower() in ("aarch64", "arm64"):
                return "bf16" in flags
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def bf16_enabled(device: torch.device, setting: str = "auto") -> bool:
    """Whether training on `device` runs its forward pass in bf16 autocast.

    "auto": on CUDA, and on a CPU with native bf16 (`cpu_has_native_bf16`), where it is faster;
    off elsewhere. "off": never. "on": always, except on a CPU without native bf16, where it is
    refused (ModelError): there torch emulates bf16 slowly and its bf16 LSTM fails outright
    (oneDNN: "could not create a primitive descriptor for the LSTM forward propagation
    primitive", seen on an AMD EPYC with AVX2 only), so a clear error at the start beats a
    traceback at the first step.
    """
    if setting == "off":
        return False
    native = device.type == "cuda" or cpu_has_native_bf16()
    if setting == "on" and not native:
        raise ModelError(
            "--bf16 on: this CPU has no native bf16 (AVX512-BF16 or AMX), and torch's bf16 LSTM fails "
            "without it; use --bf16 auto (on where it is native) or off"
        )
    return native
