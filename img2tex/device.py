"""Which torch device a command runs on: one rule for training, evaluation and prediction."""

from __future__ import annotations

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
