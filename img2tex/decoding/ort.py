"""ONNX Runtime as a decoding `Engine`: the exported graphs of a model folder, on the CPU.

No torch: this is what a plain install predicts and evaluates with. The state is a tuple of
numpy arrays (h, c, feats, keys, mask), fed to the decoder-step graph each step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from img2tex.errors import ModelError
from img2tex.network.export import ENCODER, ENCODER_IO, STEP, STEP_IO, check_export

OrtState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # h, c, feats, keys, mask


class OrtEngine:
    """Sessions for encoder.onnx and decoder_step.onnx; `threads` 0 = ONNX Runtime's choice
    (one per physical core)."""

    def __init__(self, model_dir: str | Path, threads: int = 0) -> None:
        d = Path(model_dir)
        check_export(d)
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError("onnxruntime is not installed; install img2tex again (pip install img2tex)") from None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3  # errors only: stderr is for our messages
        try:
            self._encoder = ort.InferenceSession(str(d / ENCODER), opts, providers=["CPUExecutionProvider"])
            self._step = ort.InferenceSession(str(d / STEP), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
            raise ModelError(f"model folder {d}: cannot load the ONNX graphs ({exc})") from None

    def encode(self, images: np.ndarray, mask: np.ndarray) -> OrtState:
        feats, keys, cells, h, c = self._encoder.run(list(ENCODER_IO[1]), {"images": images, "image_mask": mask})
        return h, c, feats, keys, cells

    def step(self, state: OrtState, tokens: np.ndarray) -> tuple[np.ndarray, OrtState, np.ndarray]:
        h, c, feats, keys, cells = state
        inputs = {
            "tokens": tokens.astype(np.int64, copy=False),
            "h": h,
            "c": c,
            "feats": feats,
            "keys": keys,
            "mask": cells,
        }
        logp, h, c, alpha = self._step.run(list(STEP_IO[1]), inputs)
        return logp, (h, c, feats, keys, cells), alpha

    def keep(self, state: OrtState, rows: np.ndarray) -> OrtState:
        return tuple(a[rows] for a in state)  # type: ignore[return-value]

    def expand(self, state: OrtState, k: int) -> OrtState:
        return tuple(np.repeat(a, k, axis=0) for a in state)  # type: ignore[return-value]

    def reorder(self, state: OrtState, rows: np.ndarray) -> OrtState:
        h, c, feats, keys, cells = state
        return h[rows], c[rows], feats, keys, cells
