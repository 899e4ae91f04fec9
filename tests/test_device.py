"""Tests for img2tex.device: the device (on machines with and without CUDA) and bf16 by hardware."""

from __future__ import annotations

import pytest
import torch

from img2tex import device as device_module
from img2tex.device import bf16_enabled, cpu_has_native_bf16, native_bf16, pick_device
from img2tex.errors import ModelError


def test_cpu() -> None:
    assert pick_device("cpu") == torch.device("cpu")


def test_auto_picks_cuda_when_there_is_one() -> None:
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device() == pick_device("auto")


def test_unknown_name_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="device must be one of auto, cpu, cuda"):
        pick_device("gpu")


def test_cuda() -> None:
    if torch.cuda.is_available():
        assert pick_device("cuda").type == "cuda"
    else:
        with pytest.raises(ModelError, match="no CUDA device"):
            pick_device("cuda")


@pytest.mark.parametrize("native", [True, False])
def test_bf16_follows_the_hardware(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert bf16_enabled(cpu, "auto") is native
    assert bf16_enabled(cpu, "off") is False
    assert bf16_enabled(cuda, "auto") is True and bf16_enabled(cuda, "on") is True
    if native:
        assert bf16_enabled(cpu, "on") is True
    else:
        with pytest.raises(ModelError, match="no native bf16"):
            bf16_enabled(cpu, "on")


@pytest.mark.parametrize(
    ("flags", "machine", "expected"),
    [
        ("fpu avx2 avx512f avx512_bf16", "x86_64", True),
        ("fpu avx2 fma", "x86_64", False),
        ("amx_bf16 avx2", "x86_64", True),
        ("fp asimd bf16 i8mm", "aarch64", True),
        ("fp asimd", "aarch64", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(flags: str, machine: str, expected: bool) -> None:
    key = "Features" if machine == "aarch64" else "flags"
    cpuinfo = f"processor\t: 0\n{key}\t\t: {flags}\nbogomips\t: 4890\n"
    assert native_bf16(cpuinfo, machine) is expected
    assert native_bf16("processor : 0\n", machine) is False
    assert isinstance(cpu_has_native_bf16(), bool)  # this machine's answer, whatever it is


def test_train_bf16_on_without_native_bf16_is_one_line(tmp_path, fake_split, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from img2tex.training.config import TrainConfig
    from img2tex.training.trainer import train

    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ModelError, match="--bf16 on: this CPU has no native bf16"):
        train(fake_split(4), None, tmp_path / "r", TrainConfig(device="cpu", bf16="on", export=False), progress=False)
