"""Handwritten glyphs cut from labelled pictures, and formulas laid out and drawn with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.errors import FormulaError
from img2tex.rendering.glyphs import Glyph, GlyphBank, clusters, cut, label_symbols, typical
from img2tex.rendering.handwriting import Layout, draw, handwritten, write_handwritten


def picture(shapes: list[tuple[int, int, int, int]], size: int = 64) -> np.ndarray:
    """White square with black filled rectangles (x0, x1, y0, y1)."""
    a = np.full((size, size), 255, np.uint8)
    for x0, x1, y0, y1 in shapes:
        a[y0:y1, x0:x1] = 0
    return a


def test_label_symbols_reads_one_line_and_refuses_structure() -> None:
    assert label_symbols("x + 1 = 2".split()) == [("x", False), ("+", False), ("1", False), ("=", False), ("2", False)]
    assert label_symbols("\\operatorname { s i n } x".split()) == [(c, False) for c in "sinx"]
    assert label_symbols("\\frac { 1 } { 2 }".split()) is None
    assert label_symbols("x ^ { 2 }".split()) is None  # scripts pair up badly: off by default
    assert label_symbols("x ^ { 2 }".split(), scripts=True) == [("x", False), ("2", True)]
    assert label_symbols("x \\hat".split()) is None


def test_clusters_merge_what_overlaps_along_x() -> None:
    # "=": two bars one above the other are one symbol; a dot over a stem ("i") too
    assert clusters([(0, 10, 0, 2), (0, 10, 5, 7), (14, 16, 0, 2), (14, 16, 4, 12)]) == [(0, 10, 0, 7), (14, 16, 0, 12)]
    assert len(clusters([(0, 10, 0, 5), (12, 20, 0, 5)])) == 2


def test_cut_pairs_clusters_with_symbols_and_measures_them_on_the_line() -> None:
    # "1 - 2": two tall strokes 20 px high on a baseline at y=40, a bar between them
    img = picture([(5, 8, 20, 40), (15, 25, 29, 31), (32, 35, 20, 40)])
    glyphs = cut(img, ["1", "-", "2"], writer="w")
    assert [g.token for g in glyphs] == ["1", "-", "2"]
    one, bar, _ = glyphs
    assert one.top == pytest.approx(1.0) and one.bottom == pytest.approx(0.0)
    assert bar.top == pytest.approx(11 / 20) and bar.bottom == pytest.approx(9 / 20)
    assert bar.ink.shape == (2, 10) and bar.ink.max() == 255
    # a label that does not pair with the picture gives nothing
    assert cut(img, ["1", "2"], writer="w") == []


def test_typical_drops_a_glyph_that_sits_elsewhere() -> None:
    ink = np.full((20, 12), 255, np.uint8)
    good = [Glyph("2", "w", ink, 1.0 + d, 0.0, 0.6) for d in (0, 0.02, -0.02, 0.01, -0.01)]
    odd = Glyph("2", "w", ink, 0.4, -0.6, 0.6)  # really a descender
    assert typical([*good, odd]) == good


def test_bank_round_trip_without_pickle(tmp_path: Path, glyph_bank: GlyphBank) -> None:
    glyph_bank.save(tmp_path / "bank.npz")
    back = GlyphBank.load(tmp_path / "bank.npz")
    assert len(back) == len(glyph_bank) and back.writers == ["a", "b"]
    for g, h in zip(glyph_bank.glyphs, back.glyphs):
        assert (g.token, g.writer, g.top, g.bottom) == (h.token, h.writer, h.top, h.bottom)
        assert np.array_equal(g.ink, h.ink)


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
