"""Image match: predictions and references rendered and compared, strictly and as im2markup's
evaluate_image.py does (its tolerances pinned here on synthetic pictures)."""

from __future__ import annotations

import numpy as np

from img2tex.scoring.image_match import (
    MISMATCH_RUN,
    SAME_COLUMN_PIXELS,
    im2markup_match,
    image_match,
    ink_columns,
    strict_match,
)


def _glyphs(gap: int) -> np.ndarray:
    a = np.full((20, 40 + gap), 255, np.uint8)
    a[5:15, 3:8] = 0
    a[5:15, 20 + gap : 24 + gap] = 40
    return a


def _bars(widths: list[int], height: int = 12, gap: int = 3) -> np.ndarray:
    """Vertical bars of the given widths (each column of a bar: `height` ink pixels), with
    `gap` white columns between them."""
    cols = sum(widths) + gap * (len(widths) + 1)
    a = np.full((20, cols), 255, np.uint8)
    x = gap
    for w in widths:
        a[2 : 2 + height, x : x + w] = 0
        x += w + gap
    return a


def test_whitespace_columns_do_not_count_but_ink_does():
    assert strict_match(_glyphs(0), _glyphs(7))  # only the space between the marks differs
    other = _glyphs(0)
    other[2, 3] = 0  # one more ink pixel
    assert not strict_match(_glyphs(0), other)
    assert im2markup_match(_glyphs(0), other)  # one pixel: the same column symbol for im2markup
    light = _glyphs(0)
    light[light < 255] = 200  # lighter than the ink level: no ink at all
    assert ink_columns(light).size == 0


def test_im2markup_tolerances_are_pinned():
    assert (SAME_COLUMN_PIXELS, MISMATCH_RUN) == (5, 5)
    ref = _bars([6, 6, 6])
    assert im2markup_match(ref, _bars([6, 6, 6], gap=9))  # spacing alone
    # columns 4 pixels taller are the same symbol; 5 pixels taller are not
    taller = ref.copy()
    taller[14:18, 3:9] = 0
    assert im2markup_match(ref, taller) and not strict_match(ref, taller)
    much = ref.copy()
    much[14:19, 3:9] = 0
    assert not im2markup_match(ref, much)
    # a changed run of 4 reference columns still matches, one of 5 does not
    four, five = ref.copy(), ref.copy()
    four[14:19, 3:7] = 0
    five[14:19, 3:8] = 0
    assert im2markup_match(ref, four) and not im2markup_match(ref, five)
    # reference columns missing from the prediction: 4 tolerated, 5 not
    assert im2markup_match(ref, _bars([6, 6, 2])) and not im2markup_match(ref, _bars([6, 6, 1]))
    # columns only the prediction has are never a mismatch (as in evaluate_image.py)
    assert im2markup_match(ref, _bars([6, 6, 6, 9]))
    # nothing against something
    blank = np.full((20, 30), 255, np.uint8)
    assert im2markup_match(blank, blank) and not im2markup_match(ref, blank)


def test_image_match_renders_and_compares(needs_latex):
    refs = ["x ^ { 2 }", "a + b", "a + b + c", "\\frac { a } { b }", "\\alpha"]
    hyps = ["x ^ { 2 }", "{ a } + b", "a", "\\frac { a } {", ""]
    report = image_match(refs, hyps)
    # same; another spelling of the same picture; most of it missing; unbalanced; empty
    assert report["compared"] == 5 and report["reference_failed"] == 0
    assert report["strict_matched"] == 2 and report["strict_accuracy"] == 0.4
    assert report["matched"] == 2 and report["accuracy"] == 0.4
    assert report["prediction_failed"] == 2 and report["not_compiled"] == 0.4
