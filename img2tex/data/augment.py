"""Pen augmentation: a handwritten formula as another writer (or the same one on another day)
might have drawn it.

Why: CROHME's training set holds 8,835 expressions from a few hundred writers, and a network of
the WAP family learns their particular hands long before it learns the symbols (WAP, DWAP and
their successors all augment or overfit). The warps are the ones pens produce: a slant, a
tilted baseline, wider or narrower writing, a heavier stroke, and smooth local wobble of the
strokes, coarse (a symbol drawn a little higher or fatter) and fine (the hand's tremor).

Applied to the image as stored, before `images.preprocess` crops and rescales it, so the warp
works at the resolution the strokes were drawn at and the glyph-size estimate then sees the
warped image as `predict` sees a user's. Displacements are measured in glyph heights
(`images.estimate_text_height`), so a small expression and a large one are warped alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from img2tex.images import crop_to_content, estimate_text_height, resize_by

#: The augmentations `SplitDataset` knows ("none" = show the images as stored).
AUGMENTS = ("none", "pen")
#: Glyph height (px) an image is brought down to before it is warped: about twice the model's,
#: so nothing the model could see is lost, at a fraction of the pixels (12.9 -> ~3 ms on CROHME).
WORK_GLYPH = 24.0


@dataclass(frozen=True)
class PenAugment:
    """How far each warp goes (each drawn uniformly from its range per image)."""

    rotate_deg: float = 4.0  # baseline tilt, either way
    slant: float = 0.25  # horizontal shear per unit of height, either way (italic-like writing)
    stretch: float = 0.15  # each axis scaled by e^u, u in [-stretch, stretch]
    warp: float = 0.25  # coarse smooth displacement, at most this many glyph heights
    tremor: float = 0.06  # fine displacement (cells one glyph height wide), in glyph heights
    thicken: float = 0.35  # probability of a heavier stroke (ink spread by one pixel)


def pen_augment(a: np.ndarray, rng: np.random.Generator, cfg: PenAugment = PenAugment()) -> np.ndarray:
    """A warped copy of the grey ink-on-white image `a` (uint8; any size). Deterministic in `rng`."""
    a = crop_to_content(a)
    if min(a.shape) < 2:
        return a
    glyph = estimate_text_height(a)
    if not glyph > 0:
        glyph = a.shape[0] / 2
    if glyph > WORK_GLYPH:
        a, glyph = resize_by(a, WORK_GLYPH / glyph), WORK_GLYPH
    if rng.random() < cfg.thicken:
        a = np.asarray(Image.fromarray(np.pad(a, 1, constant_values=255)).filter(ImageFilter.MinFilter(3)))
    h, w = a.shape
    # forward linear map (x, y) -> M (x, y): stretch, then slant, then rotate
    t = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    sx, sy = (math.exp(rng.uniform(-cfg.stretch, cfg.stretch)) for _ in range(2))
    shear = rng.uniform(-cfg.slant, cfg.slant)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    m = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    margin = (cfg.warp + cfg.tremor) * glyph + 2
    corners = m @ np.array([[0, w, 0, w], [0, 0, h, h]], float)
    lo, hi = corners.min(axis=1) - margin, corners.max(axis=1) + margin
    ow, oh = (int(math.ceil(v)) for v in hi - lo)
    # inverse map: output pixel -> source position, plus smooth displacement fields
    ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float32)
    inv = np.linalg.inv(m).astype(np.float32)
    px, py = xs + np.float32(lo[0]), ys + np.float32(lo[1])
    src_x = inv[0, 0] * px + inv[0, 1] * py
    src_y = inv[1, 0] * px + inv[1, 1] * py
    # coarse: cells a third of the image (at least two glyphs) wide; at most a tenth of a cell,
    # so that a lone large symbol bends rather than turns into another one
    coarse_cell = max(max(oh, ow) / 3, 2 * glyph)
    for amount, cell in ((min(cfg.warp * glyph, 0.1 * coarse_cell), coarse_cell), (cfg.tremor * glyph, glyph)):
        if amount <= 0:
            continue
        gh, gw = max(2, round(oh / cell) + 1), max(2, round(ow / cell) + 1)
        for field in (src_x, src_y):
            coarse = rng.uniform(-1, 1, (gh, gw)).astype(np.float32) * np.float32(amount)
            field += np.asarray(Image.fromarray(coarse, mode="F").resize((ow, oh), Image.BICUBIC))
    return _sample(a, src_x, src_y)


def _sample(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`a` read at the (fractional) positions (x, y), bilinearly; white outside."""
    h, w = a.shape
    src = np.pad(a.astype(np.float32), 1, constant_values=255.0)  # a white border to clamp into
    x, y = np.clip(x + 1, 0, w + 0.999), np.clip(y + 1, 0, h + 0.999)
    x0, y0 = x.astype(np.int32), y.astype(np.int32)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w + 1), np.minimum(y0 + 1, h + 1)
    top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
    bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
    return np.clip(top * (1 - fy) + bottom * fy + 0.5, 0, 255).astype(np.uint8)
