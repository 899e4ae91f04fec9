"""Tests for img2tex.device.pick_device, on machines with and without CUDA."""

from __future__ import annotations

import pytest
import torch

from img2tex.device import pick_device
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
