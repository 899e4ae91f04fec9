"""Parity: ONNX Runtime and torch decode the same tokens (greedy and beam 5) with the shipped
model, on the examples and on a batch of renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.ort import OrtEngine
from img2tex.decoding.search import decode
from img2tex.decoding.torch_engine import TorchEngine
from img2tex.images import batch_arrays, load_image, preprocess
from img2tex.network.checkpoint import load_model
from img2tex.network.folder import load_config
from img2tex.predict import default_model_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FORMULAS = [
    r"a ^ { 2 } + b ^ { 2 } = c ^ { 2 }",
    r"\int _ { 0 } ^ { 1 } x d x",
    r"\alpha \beta \gamma",
    r"\sum _ { i = 1 } ^ { n } i",
    r"\frac { a } { b + c }",
    r"e ^ { i \pi } + 1 = 0",
    r"\sqrt { x ^ { 2 } + 1 }",
    r"f ( x ) = \sin x",
    r"\lim _ { x \to 0 } \frac { \sin x } { x } = 1",
    r"A \cdot B",
    r"x _ { n + 1 }",
    r"\hat { y } = W x",
]


@pytest.fixture(scope="module")
def engines() -> tuple[OrtEngine, TorchEngine, object, object]:
    d = default_model_dir()
    model, vocab, image_cfg = load_model(d)
    return OrtEngine(d), TorchEngine(model), vocab, image_cfg


@pytest.fixture(scope="module")
def rendered_arrays(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    import shutil

    if shutil.which("latex") is None or shutil.which("dvipng") is None:
        pytest.skip("needs latex and dvipng")
    from img2tex.data.layout import open_split
    from img2tex.rendering.renderer import RenderConfig, render_formulas

    out = tmp_path_factory.mktemp("renders")
    render_formulas(FORMULAS, out, RenderConfig(jobs=1))
    split = open_split(out, "train")
    _, image_cfg, _ = load_config(default_model_dir())
    return [preprocess(split.image(i), image_cfg, scale=1.0) for i in range(len(split))]


def _both(engines, arrays: list[np.ndarray], beam: int) -> tuple[list[list[int]], list[list[int]]]:
    ort_engine, torch_engine, vocab, image_cfg = engines
    images, mask = batch_arrays(arrays, image_cfg.bucket)
    dcfg = DecodeConfig(beam=beam)
    a = decode(ort_engine, images, mask, dcfg, vocab.bos_id, vocab.eos_id)
    b = decode(torch_engine, images, mask, dcfg, vocab.bos_id, vocab.eos_id)
    for x, y in zip(a, b):
        assert x.score == pytest.approx(y.score, abs=1e-3)
    return [h.tokens for h in a], [h.tokens for h in b]


@pytest.mark.parametrize("beam", [1, 5])
def test_examples_same_tokens(engines, beam: int) -> None:
    _, _, vocab, image_cfg = engines
    arrays = [preprocess(load_image(p), image_cfg) for p in sorted(EXAMPLES.glob("*.png"))]
    a, b = _both(engines, arrays, beam)
    assert a == b
    assert sum(len(t) for t in a) > 5 * 10  # real formulas came out, not empty hypotheses


@pytest.mark.parametrize("beam", [1, 5])
def test_renders_same_tokens(engines, rendered_arrays: list[np.ndarray], beam: int) -> None:
    a, b = _both(engines, rendered_arrays, beam)
    assert a == b
    assert len(a) == len(FORMULAS)
