"""ONNX Runtime engine: optimized graphs kept between loads decode exactly as fresh ones, and a
damaged or unwritable cache only costs the optimization."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.decoding import ort as ort_module
from img2tex.decoding.ort import OrtEngine
from img2tex.images import batch_arrays, load_image, preprocess
from img2tex.network.folder import load_config
from img2tex.predict import default_model_dir

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quadratic.png"


def _logp(engine: OrtEngine) -> np.ndarray:
    _, image_cfg, _ = load_config(default_model_dir())
    images, mask = batch_arrays([preprocess(load_image(EXAMPLE), image_cfg)], image_cfg.bucket)
    state = engine.encode(images, mask)
    logp, _, _ = engine.step(state, np.array([1]))
    return logp


def test_kept_graphs_load_and_decode_as_fresh_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMG2TEX_CACHE", "off")
    fresh = _logp(OrtEngine(default_model_dir()))
    monkeypatch.setenv("IMG2TEX_CACHE", str(tmp_path))
    first = _logp(OrtEngine(default_model_dir()))  # optimizes and keeps
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == 2 and not any(name.startswith(".") for name in kept)
    again = _logp(OrtEngine(default_model_dir()))  # loads the kept ones
    np.testing.assert_allclose(first, fresh, rtol=0, atol=1e-5)
    np.testing.assert_allclose(again, fresh, rtol=0, atol=1e-5)


def test_a_damaged_kept_graph_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMG2TEX_CACHE", str(tmp_path))
    expected = _logp(OrtEngine(default_model_dir()))
    for p in tmp_path.iterdir():
        p.write_bytes(b"not a graph")
    np.testing.assert_allclose(_logp(OrtEngine(default_model_dir())), expected, rtol=0, atol=1e-5)
    assert all(p.stat().st_size > 1000 for p in tmp_path.iterdir())


def test_an_unwritable_cache_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("IMG2TEX_CACHE", str(blocker / "cache"))  # under a file: cannot be made
    _logp(OrtEngine(default_model_dir()))
    assert ort_module.graph_cache_dir() == blocker / "cache"
