"""Fixtures shared by the test modules (pytest finds them by name; no test module imports another).

Helpers that a test calls with arguments come as fixtures that return a class or a factory:
`fake_split` returns the `FakeSplit` class, `tiny_model` a function building a tiny model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from img2tex.images import ImageConfig
from img2tex.network.checkpoint import save_model
from img2tex.network.config import ModelConfig
from img2tex.network.model import Img2TexModel
from img2tex.rendering.glyphs import Glyph, GlyphBank
from img2tex.vocab import build_vocab

SHARED_IM2LATEX = Path("/work/shared/data/im2latex-100k")

#: The encoder of every tiny test model: three small blocks, 8x8 downsampling; like the cpu preset,
#: the last two have two convolutions (masking and striding are checked across a block's convs).
TINY_ENC_BLOCKS = [(8, 1, 2, 2), (16, 2, 2, 2), (16, 2, 2, 2)]


class FakeSplit:
    """In-memory Split: a dark box per image, sizes varying with the index."""

    def __init__(self, n: int = 40) -> None:
        self.formulas = [" ".join(["x"] * (1 + i % 7)) + (" + y" if i % 2 else "") for i in range(n)]
        self.sizes = [(20 + 16 * (i % 3), 40 + 30 * (i % 4)) for i in range(n)]

    def __len__(self) -> int:
        return len(self.formulas)

    def formula(self, i: int) -> str:
        return self.formulas[i]

    def name(self, i: int) -> str:
        return f"img{i}"

    def shape(self, i: int) -> tuple[int, int]:
        return self.sizes[i]

    def image(self, i: int) -> np.ndarray:
        h, w = self.sizes[i]
        a = np.full((h, w), 255, np.uint8)
        a[h // 2, 4 : w - 4] = 0  # thin strokes: mostly background, like a formula
        a[4 : h - 4, 4 + i % (w - 8)] = 0
        return a


def tiny_config(vocab_size: int, **kw: object) -> ModelConfig:
    """A ModelConfig small enough to build and run in milliseconds on a CPU."""
    return ModelConfig(
        vocab_size=vocab_size, enc_blocks=list(TINY_ENC_BLOCKS), emb_dim=8, hidden_dim=16, attn_dim=8, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def fake_split() -> type[FakeSplit]:
    """The `FakeSplit` class: `fake_split(n)` is an in-memory Split of n small synthetic images
    whose formulas are "x ... x" (1-7 x's), odd items with " + y"; names are img0, img1, ..."""
    return FakeSplit


@pytest.fixture
def tiny_model() -> Callable[..., Img2TexModel]:
    """Factory: `tiny_model(cell="lstm", **config)` is a seeded (torch.manual_seed(0)), untrained
    Img2TexModel in eval mode with a 12-token vocabulary, no dropout, the given cell and any other
    ModelConfig fields given (e.g. strided_blocks=2)."""

    def tiny(cell: str = "lstm", **config: object) -> Img2TexModel:
        torch.manual_seed(0)
        return Img2TexModel(tiny_config(12, cell=cell, dropout=0.0, **config)).eval()

    return tiny


@pytest.fixture
def model_dir(tmp_path: Path, fake_split: type[FakeSplit]) -> Path:
    """A saved, untrained tiny model folder (tmp_path/m) whose vocabulary covers the formulas
    of `fake_split(6)`, with the default ImageConfig."""
    src = fake_split(6)
    vocab = build_vocab(src.formula(i).split() for i in range(len(src)))
    save_model(tmp_path / "m", Img2TexModel(tiny_config(len(vocab))), vocab, ImageConfig())
    return tmp_path / "m"


@pytest.fixture(scope="session")
def needs_latex() -> None:
    """Skips the test that requests it unless `latex` and `dvipng` are on PATH (rendering needs both)."""
    if shutil.which("latex") is None or shutil.which("dvipng") is None:
        pytest.skip("needs latex and dvipng (texlive-latex-base, dvipng)")


@pytest.fixture(scope="session")
def shared_im2latex() -> Path:
    """The shared im2latex-100k download (formulas/, sample/, ...); skips the test where it is absent."""
    if not SHARED_IM2LATEX.is_dir():
        pytest.skip("shared im2latex-100k data not present")
    return SHARED_IM2LATEX


#: Formulas of the `distributed_root` pages (normalized token form, as the shipped model reads them).
PAGE_FORMULAS = [
    "x ^ { 2 } + y ^ { 2 } = z ^ { 2 }",
    "\\frac { a } { b } = c",
    "\\alpha + \\beta",
    "E = m c ^ { 2 }",
    "\\sqrt { x + 1 }",
    "f ( x ) = \\sin x",
]


@pytest.fixture(scope="session")
def distributed_root(tmp_path_factory: pytest.TempPathFactory, needs_latex: None) -> Path:
    """im2latex-100k as distributed, made of real renders: im2latex_formulas.lst, im2latex_train.lst
    and im2latex_test.lst (the same six formulas), and formula_images/ holding full A4 pages
    (1654x2339, ink in the alpha channel of a transparent page, as the dataset's are) with each
    formula rendered at 200 dpi without the processed look's 2x downsampling: its glyphs twice
    the model's size, as in the dataset's own pages."""
    from PIL import Image

    from img2tex.rendering.renderer import RenderConfig, render_formulas

    root = tmp_path_factory.mktemp("im2latex_distributed")
    renders = root.parent / (root.name + "_renders")
    names = [f"page{i}" for i in range(len(PAGE_FORMULAS))]
    render_formulas(PAGE_FORMULAS, renders, RenderConfig(downsample=1, jobs=1), names=names, split="train")
    (root / "formula_images").mkdir()
    for i, name in enumerate(names):
        ink = 255 - np.asarray(Image.open(renders / "images_processed" / f"{name}.png").convert("L"))
        page = np.zeros((2339, 1654, 4), np.uint8)
        top, left = 180 + 40 * i, 300 + 25 * i
        page[top : top + ink.shape[0], left : left + ink.shape[1], 3] = ink
        Image.fromarray(page, "RGBA").save(root / "formula_images" / f"{name}.png")
    (root / "im2latex_formulas.lst").write_text("\n".join(PAGE_FORMULAS) + "\n", encoding="utf-8")
    lines = "".join(f"{i} {name} basic\n" for i, name in enumerate(names))
    for split in ("train", "test"):
        (root / f"im2latex_{split}.lst").write_text(lines, encoding="utf-8")
    return root


@pytest.fixture(autouse=True, scope="session")
def _graph_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Optimized ONNX graphs go to a folder of the test run, not to the user's ~/.cache."""
    import os

    os.environ["IMG2TEX_CACHE"] = str(tmp_path_factory.mktemp("graph_cache"))


def _bar_glyph(token: str, top: float, bottom: float, width: float, writer: str = "w") -> Glyph:
    h, w = max(2, round((top - bottom) * 20)), max(2, round(width * 20))
    ink = np.zeros((h, w), np.uint8)
    ink[:, w // 2 - 1 : w // 2 + 1] = 255  # a vertical bar
    return Glyph(token, writer, ink, top, bottom, width)  # sized and placed as `glyph_bank` says


@pytest.fixture
def glyph_bank() -> GlyphBank:
    """A glyph bank of two writers ("a", "b") whose glyphs are vertical bars sized and placed as
    digits, letters, operators, brackets and a sum sit on a line."""
    shapes = {
        **dict.fromkeys("0123456789bdfhklt", (1.0, 0.0, 0.6)),
        **dict.fromkeys("acemnorsuvwxz", (0.6, 0.0, 0.6)),
        **dict.fromkeys("gjpqy", (0.6, -0.4, 0.6)),
        "i": (0.9, 0.0, 0.2),
        "+": (0.7, 0.1, 0.6),
        "-": (0.45, 0.35, 0.6),
        "=": (0.55, 0.2, 0.6),
        "(": (1.1, -0.2, 0.3),
        ")": (1.1, -0.2, 0.3),
        "\\sum": (1.2, -0.2, 0.9),
        "\\rightarrow": (0.5, 0.2, 0.8),
        ".": (0.1, 0.0, 0.1),
    }
    return GlyphBank([_bar_glyph(t, *s, writer=w) for t, s in shapes.items() for w in ("a", "b")])
