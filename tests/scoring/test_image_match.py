"""Image match: predictions and references rendered and compared as im2markup does."""

from __future__ import annotations

import numpy as np

from img2tex.scoring.image_match import image_match, images_match, ink_columns


def _glyphs(gap: int) -> np.ndarray:
    a = np.full((20, 40 + gap), 255, np.uint8)
    a[5:15, 3:8] = 0
    a[5:15, 20 + gap : 24 + gap] = 40
    return a


def test_whitespace_columns_do_not_count_but_ink_does():
    assert images_match(_glyphs(0), _glyphs(7))  # only the space between the marks differs
    other = _glyphs(0)
    other[2, 3] = 0  # one more ink pixel
    assert not images_match(_glyphs(0), other)
    light = _glyphs(0)
    light[light < 255] = 200  # lighter than the ink level: no ink at all
    assert ink_columns(light).size == 0


def test_image_match_renders_and_compares(needs_latex):
    refs = ["x ^ { 2 }", "a + b", "a + b", "\\frac { a } { b }", "\\alpha"]
    hyps = ["x ^ { 2 }", "{ a } + b", "a - b", "\\frac { a } {", ""]
    report = image_match(refs, hyps)
    # same; another spelling of the same picture; a different sign; unbalanced; empty
    assert report["compared"] == 5 and report["reference_failed"] == 0
    assert report["matched"] == 2 and report["accuracy"] == 0.4
    assert report["prediction_failed"] == 2 and report["not_compiled"] == 0.4
