"""Attention pictures: where the decoder looked for each token it wrote (`predict --attention DIR`).

The maps come from replaying the chosen tokens through the decoder one step at a time (teacher
forcing) with the same engine that decoded them: step t is fed token t-1 and its attention weights
over the encoder's grid are the ones that produced token t. Replaying after decoding keeps greedy
and beam search free of bookkeeping they do not need, and gives the maps of the beam that won.
Each map is drawn over the preprocessed image (the pixels the model saw) in a grid of small panels
labelled with their token, so a user sees which mark was read as what.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Panels are scaled to at most this width, and the grid to at most this many columns.
PANEL_WIDTH = 360
COLUMNS = 4
LABEL_HEIGHT = 20
GAP = 6


def grid_shape(height: int, width: int, pools: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Encoder grid (rows, columns) of a padded image: each pooling floors the size."""
    for ph, pw in pools:
        height, width = height // ph, width // pw
    return height, width


def attention_maps(
    engine: Any, image: np.ndarray, mask: np.ndarray, tokens: Sequence[int], bos: int, grid: tuple[int, int]
) -> np.ndarray:
    """(len(tokens), rows, columns) attention weights for one image (batch of 1), each map summing to 1.

    `image` (1, 1, H, W) and `mask` (1, H, W) as `images.batch_arrays` makes them."""
    state = engine.encode(image, mask)
    prev = np.array([bos], dtype=np.int64)
    maps = []
    for tok in tokens:
        _, state, alpha = engine.step(state, prev)
        maps.append(np.asarray(alpha, dtype=np.float32).reshape(grid))
        prev = np.array([tok], dtype=np.int64)
    return np.stack(maps) if maps else np.zeros((0, *grid), np.float32)


def draw_attention(image: np.ndarray, maps: np.ndarray, labels: Sequence[str], cell: tuple[int, int]) -> bytes:
    """A PNG: one panel per token, the map (brightest cell = full red) over the grey image, the
    token written above it. `image` is the 2-D uint8 image the model read; each map cell covers
    `cell` = (rows, columns) pixels of its padded version, and the maps are cropped to it."""
    h, w = image.shape
    scale = min(1.0, PANEL_WIDTH / w) if w > PANEL_WIDTH else max(1.0, min(3.0, 120 / w))
    pw, ph = max(1, round(w * scale)), max(1, round(h * scale))
    cols = max(1, min(COLUMNS, len(labels)))
    rows = max(1, math.ceil(len(labels) / cols))
    sheet = Image.new("RGB", (cols * (pw + GAP) + GAP, rows * (ph + LABEL_HEIGHT + GAP) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    grey = image.astype(np.float32)[..., None].repeat(3, axis=2)
    red = np.array([230.0, 20.0, 20.0], np.float32)
    for i, (amap, label) in enumerate(zip(maps, labels)):
        gh, gw = amap.shape
        # Each cell covers a cell[0] x cell[1] block of the padded image: scale up, crop to the image.
        norm = Image.fromarray(amap / max(float(amap.max()), 1e-9))
        up = np.zeros((h, w), np.float32)
        big = np.asarray(norm.resize((gw * cell[1], gh * cell[0]), Image.Resampling.BILINEAR))[:h, :w]
        up[: big.shape[0], : big.shape[1]] = big
        a = np.clip(up, 0.0, 1.0)[..., None] * 0.75
        panel = Image.fromarray((grey * (1 - a) + red * a).astype(np.uint8)).resize((pw, ph), Image.Resampling.LANCZOS)
        x, y = GAP + (i % cols) * (pw + GAP), GAP + (i // cols) * (ph + LABEL_HEIGHT + GAP)
        draw.text((x, y), f"{i + 1}: {label}", fill="black", font=font)
        sheet.paste(panel, (x, y + LABEL_HEIGHT))
    buf = io.BytesIO()
    sheet.save(buf, "PNG", optimize=True)
    return buf.getvalue()
