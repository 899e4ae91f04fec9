"""What runs the network for decoding, and which engine a command gets.

An `Engine` encodes a batch of images into an opaque decoder state and advances it one token at a
time; `search` does the rest. Two engines exist:

- `ort.OrtEngine`: ONNX Runtime on the exported graphs in the model folder (`export.py`); what a
  plain install (no torch) predicts and evaluates with on the CPU, and the fastest to start;
- `torch_engine.TorchEngine`: the torch network itself; for CUDA, and for validation during
  training (the weights change every step, so there is nothing exported to run).

`load_engine` picks between them; a command that needs torch and does not find it says how to
install it (`require_torch`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from img2tex.errors import ModelError

ENGINES = ("auto", "onnx", "torch")
TRAIN_INSTALL = 'pip install "img2tex[train]"'


class Engine(Protocol):
    """The network as decoding sees it. States are opaque; arrays crossing this line are numpy."""

    def encode(self, images: np.ndarray, mask: np.ndarray) -> Any:
        """images (B, 1, H, W) float32 ink in [0, 1], mask (B, H, W) bool -> the initial state."""
        ...

    def step(self, state: Any, tokens: np.ndarray) -> tuple[np.ndarray, Any, np.ndarray]:
        """Previous tokens (B,) int64 -> log-probabilities (B, vocab) float32, the next state,
        and the attention weights over the grid cells (B, cells) that produced them."""
        ...

    def keep(self, state: Any, rows: np.ndarray) -> Any:
        """Only `rows` (int64, increasing) of the batch, encoded images included."""
        ...

    def expand(self, state: Any, k: int) -> Any:
        """Each row repeated k times in place (row i -> rows i*k .. i*k+k-1), for beam search."""
        ...

    def reorder(self, state: Any, rows: np.ndarray) -> Any:
        """The recurrent state of `rows` (B*K,) int64; rows never leave their image's block of K,
        so what was encoded of the images stays where it is."""
        ...


def torch_available() -> bool:
    """True when torch can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def require_torch(what: str) -> None:
    """ModelError (one line, with the install command) when torch is missing."""
    if not torch_available():
        raise ModelError(f"{what} needs PyTorch, which is not installed; install it with: {TRAIN_INSTALL}")


def pick_engine(engine: str, device: str, model_dir: Path) -> str:
    """'onnx' or 'torch' for a request: `engine` auto takes ONNX Runtime on the CPU when the model
    folder holds an export, torch otherwise (CUDA, or a folder never exported)."""
    from img2tex.network.export import has_export

    if engine not in ENGINES:
        raise ModelError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine != "auto":
        if engine == "onnx" and device == "cuda":
            raise ModelError("the onnx engine runs on the CPU; use --device cpu or auto, or the torch engine")
        return engine
    if device == "cuda":
        return "torch"
    if has_export(model_dir):
        return "onnx"
    if torch_available():
        return "torch"
    raise ModelError(
        f"model folder {model_dir} has no ONNX export; export it with `img2tex export {model_dir}` "
        f"(needs {TRAIN_INSTALL})"
    )


def load_engine(model_dir: str | Path, device: str = "auto", engine: str = "auto") -> tuple[Engine, str]:
    """The engine for a model folder and the device it runs on ('cpu' or 'cuda')."""
    d = Path(model_dir)
    name = pick_engine(engine, device, d)
    if name == "onnx":
        from img2tex.decoding.ort import OrtEngine

        return OrtEngine(d), "cpu"
    require_torch("decoding with the torch engine (--device cuda, or a model folder without an ONNX export)")
    from img2tex.decoding.torch_engine import TorchEngine
    from img2tex.device import pick_device
    from img2tex.network.checkpoint import load_model

    dev = pick_device(device)
    model, _, _ = load_model(d, dev)
    return TorchEngine(model), dev.type
