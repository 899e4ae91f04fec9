"""Attention pictures: maps replayed from the decoder, drawn one labelled panel per token."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from img2tex.images import batch_arrays
from img2tex.network.attention import COLUMNS, GAP, attention_maps, draw_attention, grid_shape
from img2tex.predict import Img2Tex, default_model_dir


def test_grid_shape_floors_at_each_pooling():
    assert grid_shape(37, 101, [(2, 2), (2, 2), (2, 1), (1, 1)]) == (4, 25)


def test_maps_are_distributions_over_the_image_grid(model_dir):
    reader = Img2Tex(model_dir, device="cpu", engine="torch", max_len=6)
    reader.load()
    image = np.full((32, 80), 255, np.uint8)
    image[10:20, 5:60] = 0
    images, mask = batch_arrays([image], reader.image_cfg.bucket)
    grid = grid_shape(images.shape[2], images.shape[3], [(b[2], b[3]) for b in reader.model_cfg.enc_blocks])
    tokens = reader.vocab.encode(["x", "+", "y"])
    maps = attention_maps(reader._engine, images, mask, tokens, reader.vocab.bos_id, grid)
    assert maps.shape == (3, *grid)
    assert np.allclose(maps.reshape(3, -1).sum(axis=1), 1.0, atol=1e-4) and (maps >= 0).all()
    # Step t is fed token t-1: changing the last token cannot change any map, changing the first changes later ones.
    other = attention_maps(reader._engine, images, mask, tokens[:2] + [tokens[0]], reader.vocab.bos_id, grid)
    assert np.allclose(maps, other)
    changed = attention_maps(reader._engine, images, mask, [tokens[2]] + tokens[1:], reader.vocab.bos_id, grid)
    assert np.allclose(maps[0], changed[0]) and not np.allclose(maps[1:], changed[1:])


def test_picture_has_one_panel_per_token_with_the_heat_where_the_weight_is():
    image = np.full((40, 80), 255, np.uint8)
    maps = np.zeros((6, 5, 10), np.float32)
    maps[:, 0, 0] = 1.0  # every token looked at the top-left cell only
    png = draw_attention(image, maps, ["a", "b", "c", "d", "e", "f"], (8, 8))
    sheet = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    rows = 2  # 6 panels in COLUMNS columns
    assert COLUMNS == 4 and sheet.shape[0] > rows * 40 and sheet.shape[1] > COLUMNS * 80
    red = (sheet[..., 0] > 180) & (sheet[..., 1] < 120)
    assert red.any()
    ys, xs = np.nonzero(red)
    # the red is in the top-left corner of panels, never in their right half
    pitch = (sheet.shape[1] - GAP) // COLUMNS  # panel width + gap
    assert ((xs - GAP) % pitch < pitch * 0.4).all()


def test_predict_writes_attention_pictures(tmp_path):
    from img2tex.errors import ModelError

    try:
        reader = Img2Tex(default_model_dir())
    except ModelError:
        pytest.skip("no default model shipped")
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "quadratic.png"
    (res,) = reader.predict_paths([example], attention_dir=tmp_path / "att")
    picture = Image.open(tmp_path / "att" / "quadratic.png")
    n = len(res.tokens.split())
    per_row = min(COLUMNS, n)
    assert picture.width > per_row * 100 and picture.height > (n // per_row) * 40
