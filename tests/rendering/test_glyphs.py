"""Handwritten glyphs cut from labelled pictures, and the bank that keeps them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.rendering.glyphs import Glyph, GlyphBank, clusters, cut, label_symbols, typical


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


def test_bank_from_a_crohme_layout(tmp_path: Path) -> None:
    from PIL import Image

    from img2tex.rendering.glyphs import _writer_of

    (tmp_path / "train" / "expressmatch").mkdir(parents=True)
    (tmp_path / "train" / "HAMEX").mkdir()
    rows = []
    for k, (name, label) in enumerate(
        [("expressmatch/7_user3", "1 - 1"), ("HAMEX/formulaire002-equation009", "1 + 1 1"), ("HAMEX/x", "\\frac 1 2")]
    ):
        shapes = [(5, 8, 20, 40), (15, 25, 29, 31), (32, 35, 20, 40)]
        if k == 1:
            shapes.append((40, 43, 20, 40))
        Image.fromarray(picture(shapes)).save(tmp_path / "train" / f"{name}.png")
        rows.append(f"{name}\t{label}\n")
    (tmp_path / "groundtruth_train.tsv").write_text("".join(rows))
    bank = GlyphBank.from_crohme(tmp_path)
    assert sorted(bank.writers) == ["HAMEX/formulaire002", "expressmatch/user3"]  # the fraction: not cut
    # paired by count and order: the bar of the second picture is its label's "+"
    assert len(bank.by_token["1"]) == 5 and len(bank.by_token["-"]) == len(bank.by_token["+"]) == 1
    assert _writer_of("MathBrush/200926-1550-20") == "MathBrush/200926-1550"
    assert _writer_of("KAIST/TrainData1_6_sub_3") == "KAIST/TrainData1_6_sub_3"
