"""Tests for img2tex.data.layout: which layout a folder has, open_split and formulas_of."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.data import packed
from img2tex.data.layout import detect_layout, formulas_of, open_split
from img2tex.errors import DatasetError


def test_open_split_detects_layouts(im2latex_root: Path, processed_root: Path, plain_root: Path) -> None:
    assert detect_layout(im2latex_root) == "im2latex"
    assert detect_layout(processed_root) == "processed"
    assert detect_layout(plain_root) == "plain"
    assert len(open_split(im2latex_root, "validate")) == 2
    assert len(open_split(processed_root, "train")) == 2
    assert len(open_split(plain_root, "test")) == 2  # only labels.tsv: used for any split
    assert len(open_split(plain_root / "labels.tsv")) == 2
    (plain_root / "test.tsv").write_text("one.png\tz\n")  # a per-split file wins
    assert open_split(plain_root, "test").formula(0) == "z"


def test_open_split_errors(tmp_path: Path, im2latex_root: Path) -> None:
    with pytest.raises(DatasetError, match="not a dataset folder"):
        open_split(tmp_path, "train")
    with pytest.raises(DatasetError, match="no such file or folder"):
        open_split(tmp_path / "nothing", "train")
    with pytest.raises(DatasetError, match="name one"):
        open_split(im2latex_root)


def test_formulas_of_without_images(im2latex_root: Path, plain_root: Path) -> None:
    import shutil

    shutil.rmtree(im2latex_root / "formula_images")
    assert formulas_of(im2latex_root, "train") == ["a^2 + b^2", "E=mc^2"]
    assert formulas_of(plain_root) == ["x ^ { 2 }", "a \\quad b"]


def test_formulas_of_shared_im2latex(shared_im2latex: Path) -> None:
    assert len(formulas_of(shared_im2latex, "validate")) == 8463


def test_open_split_returns_packed(tmp_path: Path) -> None:
    """A packed folder written by the real packed.py goes to packed.PackedSplit."""
    items = [("n0", np.full((10, 20), 255, np.uint8), "x"), ("n1", np.zeros((8, 8), np.uint8), "y")]
    items[0][1][3:6, 3:9] = 0
    packed.write_packed(tmp_path / "pk", items)
    ds = open_split(tmp_path / "pk", "train")
    assert isinstance(ds, packed.PackedSplit)
    assert len(ds) == 2 and ds.formula(1) == "y"
    assert formulas_of(tmp_path / "pk", "train") == ["x", "y"]
    assert detect_layout(tmp_path / "pk") == "packed"
