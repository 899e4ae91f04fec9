"""ONNX Runtime as a decoding `Engine`: the exported graphs of a model folder, on the CPU.

No torch: this is what a plain install predicts and evaluates with. The state is a tuple of
numpy arrays (h, c, feats, keys, mask), fed to the decoder-step graph each step.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from img2tex.errors import ModelError
from img2tex.network.export import ENCODER, ENCODER_IO, STEP, STEP_IO, check_export

OrtState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # h, c, feats, keys, mask


class OrtEngine:
    """InferenceSessions for encoder.onnx and decoder_step.onnx; `threads` 0 = ONNX Runtime's choice
    (one per physical core)."""

    def __init__(self, model_dir: str | Path, threads: int = 0) -> None:
        d = Path(model_dir)
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError("onnxruntime is not installed; install img2tex again (pip install img2tex)") from None
        manifest = check_export(d)
        cache = graph_cache_dir()
        try:
            self._encoder = _session(ort, d / ENCODER, threads, cache, manifest["weights_sha256"])
            self._step = _session(ort, d / STEP, threads, cache, manifest["weights_sha256"])
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


# -- optimized graphs, kept ------------------------------------------------------------------------


def graph_cache_dir() -> Path | None:
    """Where optimized graphs are kept: $IMG2TEX_CACHE, else $XDG_CACHE_HOME/img2tex (or
    ~/.cache/img2tex); None when IMG2TEX_CACHE is "off"."""
    env = os.environ.get("IMG2TEX_CACHE")
    if env == "off":
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "img2tex"


@functools.lru_cache(maxsize=1)
def _machine() -> str:
    """What an optimized graph depends on besides the graph: ONNX Runtime's version, the
    architecture and the CPU's instruction sets (its kernels and layouts are chosen by them)."""
    import onnxruntime as ort

    flags = ""
    with contextlib.suppress(OSError):
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return f"{ort.__version__}|{platform.machine()}|{flags}"


def _options(ort: Any, threads: int, level: Any) -> Any:
    """`SessionOptions` with `threads` intra-op threads (0: ONNX Runtime's choice), errors only on
    stderr (it is for our messages), graph optimization `level`."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.graph_optimization_level = level
    return opts


def _session(ort: Any, graph: Path, threads: int, cache: Path | None, weights_sha: str) -> Any:
    """An InferenceSession of `graph`, from its optimized copy in `cache` when there is one.

    Why: optimizing the graphs is most of loading them (92 of 110 ms for the shipped model on
    2 AMD EPYC cores), and `img2tex predict one.png` loads them on every start. The first load
    optimizes as always and saves the result; later ones load it with optimization off (18 ms).
    The copy is named by everything it depends on (the weights, the graph file, ONNX Runtime's
    version, the CPU), so another model, export, version or machine makes its own. A cache that
    cannot be written, or a copy that does not load, only costs the optimization.
    """
    levels = ort.GraphOptimizationLevel
    opts = _options(ort, threads, levels.ORT_ENABLE_ALL)
    providers = ["CPUExecutionProvider"]
    if cache is None:
        return ort.InferenceSession(str(graph), opts, providers=providers)
    st = graph.stat()
    key = f"{weights_sha}|{graph.name}|{st.st_size}|{st.st_mtime_ns}|{_machine()}"
    kept = cache / f"{graph.stem}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.onnx"
    if kept.is_file():
        ready = _options(ort, threads, levels.ORT_DISABLE_ALL)
        try:
            return ort.InferenceSession(str(kept), ready, providers=providers)
        except Exception:  # a damaged copy: optimize again below, and replace it
            with contextlib.suppress(OSError):
                kept.unlink(missing_ok=True)
    tmp = kept.with_name(f".{kept.name}.{os.getpid()}.tmp")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        opts.optimized_model_filepath = str(tmp)
        loaded = ort.InferenceSession(str(graph), opts, providers=providers)
        os.replace(tmp, kept)
        return loaded
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        opts.optimized_model_filepath = ""
        return ort.InferenceSession(str(graph), opts, providers=providers)
