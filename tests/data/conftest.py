"""Fixtures for the img2tex.data tests: tiny dataset folders in each on-disk layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _write_png(path: Path, h: int = 12, w: int = 30, rgba: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((h, w), 255, np.uint8)
    a[3:-3, 4:-4] = 0
    if rgba:  # the original im2latex look: black ink on transparent
        im = Image.fromarray(np.dstack([np.zeros_like(a)] * 3 + [255 - a]), "RGBA")
    else:
        im = Image.fromarray(a)
    im.save(path)


@pytest.fixture()
def write_png() -> Callable[..., None]:
    """`write_png(path, h=12, w=30, rgba=False)`: save an h x w PNG (parent folders made) with a
    black box inset 3 px top and bottom, 4 px left and right; rgba=True writes black ink on
    transparent, as the original im2latex images are."""
    return _write_png


@pytest.fixture()
def im2latex_root(tmp_path: Path, write_png: Callable[..., None]) -> Path:
    """An im2latex-layout folder: im2latex_formulas.lst (4 formulas: one with a bare \\r, one in
    latin-1), im2latex_train.lst (aaa, bbb), im2latex_validate.lst (ccc, ddd), and RGBA images
    formula_images/{aaa,bbb,ccc,ddd}.png, 30 px wide and 20 + len(name) px high."""
    root = tmp_path / "im2latex"
    root.mkdir()
    # formula 1 holds a bare \r (must not split), formula 2 is latin-1, file ends with \n
    (root / "im2latex_formulas.lst").write_bytes(b"a^2 + b^2\n\\frac{1}{2}\rx\nx = \xe9\nE=mc^2\n")
    (root / "im2latex_train.lst").write_text("0 aaa basic\n3 bbb basic\n")
    (root / "im2latex_validate.lst").write_text("1 ccc basic\n2 ddd basic\n")
    for name in ("aaa", "bbb", "ccc", "ddd"):
        write_png(root / "formula_images" / f"{name}.png", h=20 + len(name), rgba=True)
    return root


@pytest.fixture()
def processed_root(tmp_path: Path, write_png: Callable[..., None]) -> Path:
    """A processed-layout folder: formulas.norm.lst (3 formulas), im2latex_train_filter.lst
    (p0, p2), validate_filter.lst (p1), and 12 x 30 grayscale images_processed/p{0,1,2}.png."""
    root = tmp_path / "processed"
    root.mkdir()
    (root / "formulas.norm.lst").write_text("a ^ { 2 }\n\\frac { 1 } { 2 }\nx\n")
    (root / "im2latex_train_filter.lst").write_text("p0.png 0\np2.png 2\n")
    (root / "validate_filter.lst").write_text("p1.png 1\n")
    for n in ("p0", "p1", "p2"):
        write_png(root / "images_processed" / f"{n}.png")
    return root


@pytest.fixture()
def plain_root(tmp_path: Path, write_png: Callable[..., None]) -> Path:
    """A plain-layout folder: one.png (15 x 40), sub/two.png (12 x 30) and a labels.tsv with a
    header row, both images and a trailing blank line."""
    root = tmp_path / "mine"
    write_png(root / "one.png", h=15, w=40)
    write_png(root / "sub" / "two.png")
    (root / "labels.tsv").write_text("image\tformula\none.png\tx ^ { 2 }\nsub/two.png\ta \\quad b\n\n")
    return root
