"""Formulas laid out and drawn in handwritten glyphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.errors import FormulaError
from img2tex.rendering.glyphs import GlyphBank
from img2tex.rendering.handwriting import Layout, draw, handwritten, write_handwritten


def test_layout_places_scripts_fractions_roots_and_limits(glyph_bank: GlyphBank) -> None:
    rng = np.random.default_rng(0)
    lay = Layout(glyph_bank, "a", rng)
    base = lay.formula(["x"])
    sup = lay.formula("x ^ { 2 }".split())
    sub = lay.formula("x _ { 2 }".split())
    assert sup.top > base.top + 0.2 and sup.width > base.width
    assert sub.bottom < -0.1
    frac = lay.formula("\\frac { 1 } { 2 }".split())
    (num, den) = sorted(frac.pieces, key=lambda p: -p.top)
    assert num.top - num.height > frac.strokes[0].points[0][1] > den.top  # numerator over the bar over the denominator
    root = lay.formula("\\sqrt { x + 1 }".split())
    assert len(root.strokes) == 1 and root.strokes[0].points[-1][0] >= max(p.x + p.width for p in root.pieces)
    total = lay.formula("\\sum _ { i = 1 } ^ { n } i".split())
    assert total.top > 1.3 and total.bottom < -0.4  # limits above and below
    fenced = lay.formula("\\left( \\frac { 1 } { 2 } \\right)".split())
    paren = min(fenced.pieces, key=lambda p: p.x)
    assert paren.height > 1.5  # stretched over the fraction
    arrow = lay.formula("\\left( x \\rightarrow 0 \\right)".split())  # \\rightarrow closes nothing
    assert len(arrow.pieces) == 5
    with pytest.raises(FormulaError):
        lay.formula("\\operatorname { s i n".split())
    with pytest.raises(FormulaError):
        lay.formula("\\hat { x }".split())
    with pytest.raises(FormulaError):
        lay.formula("{ x".split())


def test_draw_gives_a_crohme_like_square_with_ink(glyph_bank: GlyphBank) -> None:
    rng = np.random.default_rng(1)
    img = handwritten("a + \\frac { 1 } { 2 }".split(), glyph_bank, rng)
    assert img.shape == (256, 256) and img.dtype == np.uint8
    ink = img < 128
    assert 50 < ink.sum() < 0.2 * img.size
    rows, cols = np.nonzero(ink)
    assert cols.min() >= 2 and cols.max() <= 253  # fits the square
    assert draw(Layout(glyph_bank, "b", rng).formula(["1"]), rng).min() < 128


def test_write_handwritten_makes_a_crohme_layout_the_trainer_reads(tmp_path: Path, glyph_bank: GlyphBank) -> None:
    from img2tex.data.layout import open_split

    formulas = ["x^{2}+1", "\\frac{a}{b}", "\\hat{x}", "\\sin x"]
    report = write_handwritten(formulas, tmp_path / "hw", glyph_bank, seed=3, names=["p", "q", "r", "s"])
    assert report.ok == 3 and [f["name"] for f in report.failed] == ["r"]
    split = open_split(tmp_path / "hw", "train")
    assert len(split) == 3
    assert [split.formula(i) for i in range(3)] == ["x ^ { 2 } + 1", "\\frac { a } { b }", "\\operatorname { s i n } x"]
    first = (tmp_path / "hw/train/hw/p.png").read_bytes()
    # a rerun keeps what is there; a fresh run with the same seed draws the same pictures
    again = write_handwritten(formulas, tmp_path / "hw2", glyph_bank, seed=3, names=["p", "q", "r", "s"])
    assert again.ok == 3 and (tmp_path / "hw2/train/hw/p.png").read_bytes() == first
    assert write_handwritten(formulas, tmp_path / "hw", glyph_bank, seed=3, names=list("pqrs")).skipped_existing == 3
