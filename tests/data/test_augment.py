"""Tests for img2tex.data.augment: pen warps that keep a formula readable and vary it."""

from __future__ import annotations

import numpy as np

from img2tex.data.augment import PenAugment, pen_augment
from img2tex.images import ImageConfig, crop_to_content, preprocess


def _strokes(size: float = 1.0) -> np.ndarray:
    """A handwriting-like image: three 'glyphs' (60 px tall at size 1) of 2 px strokes on white."""
    f = lambda v: round(v * size)  # noqa: E731
    a = np.full((f(120), f(300)), 255, np.uint8)
    for x0 in (20, 120, 220):
        a[f(30) : f(90), f(x0) : f(x0) + 2] = 0  # a vertical stroke
        a[f(59) : f(59) + 2, f(x0) : f(x0 + 50)] = 0  # a horizontal one
        for t in range(f(50)):  # a diagonal
            a[f(30) + t, f(x0) + t : f(x0) + t + 2] = 0
    return a


def test_deterministic_in_its_random_generator() -> None:
    a = _strokes()
    one = pen_augment(a, np.random.default_rng(7))
    assert np.array_equal(one, pen_augment(a, np.random.default_rng(7)))
    assert not np.array_equal(one, pen_augment(a, np.random.default_rng(8)))


def test_warps_move_the_ink_but_keep_it() -> None:
    a = _strokes()

    def ink(x: np.ndarray) -> int:  # darkness at the model's glyph size, as trained on
        return int((255 - preprocess(x, ImageConfig()).astype(int)).sum())

    for seed in range(10):
        b = pen_augment(a, np.random.default_rng(seed))
        assert b.dtype == np.uint8 and b.ndim == 2
        # nothing is cut off at the edges, and the strokes survive: at the model's glyph size the
        # ink (after the warp's resampling and any heavier stroke) is of the same order
        assert b[0].min() > 128 and b[-1].min() > 128 and b[:, 0].min() > 128 and b[:, -1].min() > 128
        assert 0.3 * ink(a) < ink(b) < 4 * ink(a)


def test_no_warp_is_no_change_but_the_crop() -> None:
    a = _strokes(0.3)  # glyphs under WORK_GLYPH: not scaled down
    still = PenAugment(rotate_deg=0, slant=0, stretch=0, warp=0, tremor=0, thicken=0)
    b = pen_augment(a, np.random.default_rng(0), still)
    core = crop_to_content(b)
    ref = crop_to_content(a)
    assert core.shape == ref.shape and np.abs(core.astype(int) - ref).max() <= 1


def test_a_slant_shears_the_vertical_strokes() -> None:
    a = _strokes(0.38)  # 23 px glyphs: not scaled down
    lean = PenAugment(rotate_deg=0, slant=0.3, stretch=0, warp=0, tremor=0, thicken=0)
    offsets = []
    for seed in range(8):
        b = crop_to_content(pen_augment(a, np.random.default_rng(seed), lean))
        assert abs(b.shape[0] - crop_to_content(a).shape[0]) <= 2  # a shear keeps the height
        # the first glyph's vertical stroke: where its top and bottom rows' ink starts
        h = b.shape[0]
        offsets.append(np.flatnonzero(b[1] < 128)[0] - np.flatnonzero(b[h - 2] < 128)[0])
    # a 23 px stroke sheared by up to 0.3 moves by up to 7 px, both ways across the draws
    assert max(offsets) > 2 and min(offsets) < -2
