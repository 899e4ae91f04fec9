"""Tests for img2tex.data.folders: each folder layout on a tiny fabricated folder, and each error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from img2tex.data.folders import DatasetWarning, Example, read_im2latex, read_plain, read_processed
from img2tex.data.layout import detect_layout, formulas_of, open_split
from img2tex.data.split import Split
from img2tex.errors import DatasetError, ImageError

# ---------------------------------------------------------------- im2latex


def test_read_im2latex(im2latex_root: Path) -> None:
    ds = read_im2latex(im2latex_root, "train")
    assert isinstance(ds, Split)
    assert len(ds) == 2
    assert ds[0] == Example("aaa", "a^2 + b^2", im2latex_root / "formula_images" / "aaa.png")
    assert ds.formula(1) == "E=mc^2" and ds.name(1) == "bbb"
    assert ds.shape(0) == (23, 30)
    img = ds.image(0)
    assert img.dtype == np.uint8 and img[0, 0] == 255 and img[10, 10] == 0
    val = read_im2latex(im2latex_root, "val")  # alias of validate
    assert [val.formula(i) for i in range(2)] == ["\\frac{1}{2}\rx", "x = \xe9"]


def test_read_im2latex_normalize(im2latex_root: Path) -> None:
    normalize = pytest.importorskip("img2tex.tokenizer").normalize
    ds = read_im2latex(im2latex_root, "train", normalize=True)
    assert ds.formula(0) == normalize("a^2 + b^2")


def test_read_im2latex_normalize_skips_bad_formulas(im2latex_root: Path) -> None:
    pytest.importorskip("img2tex.tokenizer")
    (im2latex_root / "im2latex_formulas.lst").write_text("x^2\n\\frac{1\n")
    (im2latex_root / "im2latex_test.lst").write_text("0 aaa basic\n1 bbb basic\n")
    ds = read_im2latex(im2latex_root, "test", normalize=True)
    assert [e.name for e in ds] == ["aaa"]
    assert ds.skipped == {"formula failed to normalize": 1}


def test_im2latex_index_out_of_range(im2latex_root: Path) -> None:
    (im2latex_root / "im2latex_test.lst").write_text("0 aaa basic\n9 bbb basic\n")
    with pytest.raises(DatasetError, match=r"im2latex_test.lst line 2: formula index 9 is out of range"):
        read_im2latex(im2latex_root, "test")


def test_im2latex_bad_line(im2latex_root: Path) -> None:
    (im2latex_root / "im2latex_test.lst").write_text("x aaa basic\n")
    with pytest.raises(DatasetError, match="line 1: formula index 'x' is not a number"):
        read_im2latex(im2latex_root, "test")


def test_missing_files_are_named(tmp_path: Path, im2latex_root: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        read_im2latex(tmp_path / "absent", "train")
    with pytest.raises(DatasetError, match=r"no list of the 'test' split found \(looked for im2latex_test.lst"):
        read_im2latex(im2latex_root, "test")
    with pytest.raises(DatasetError, match="no formula list found"):
        read_im2latex(tmp_path, "train")


def test_missing_images_error_and_skip(im2latex_root: Path) -> None:
    (im2latex_root / "formula_images" / "bbb.png").unlink()
    with pytest.raises(DatasetError, match=r"1 of 2 images listed in .*im2latex_train.lst are missing .*bbb.png"):
        read_im2latex(im2latex_root, "train")
    with pytest.warns(DatasetWarning, match="skipped 1 of 2"):
        ds = read_im2latex(im2latex_root, "train", skip_missing=True)
    assert len(ds) == 1 and ds.skipped == {"missing image": 1}


# ---------------------------------------------------------------- processed


def test_read_processed(processed_root: Path) -> None:
    ds = read_processed(processed_root, "train")
    assert [(e.name, e.formula) for e in ds] == [("p0", "a ^ { 2 }"), ("p2", "x")]
    assert ds.shape(1) == (12, 30)
    assert read_processed(processed_root, "validate").formula(0) == "\\frac { 1 } { 2 }"


def test_processed_errors(processed_root: Path) -> None:
    (processed_root / "test_filter.lst").write_text("p0.png 0\np1.png\n")
    with pytest.raises(DatasetError, match="test_filter.lst line 2: expected 'image.png formula_idx'"):
        read_processed(processed_root, "test")
    (processed_root / "test_filter.lst").write_text("p0.png 3\n")
    with pytest.raises(DatasetError, match=r"line 1: formula index 3 is out of range \(formulas.norm.lst has 3"):
        read_processed(processed_root, "test")


def test_processed_images_absent_but_formulas_available(processed_root: Path) -> None:
    for p in (processed_root / "images_processed").iterdir():
        p.unlink()
    (processed_root / "images_processed").rmdir()
    with pytest.raises(DatasetError, match="no image folder found"):
        read_processed(processed_root, "train")
    assert formulas_of(processed_root, "train") == ["a ^ { 2 }", "x"]


# ---------------------------------------------------------------- plain


def test_read_plain(plain_root: Path) -> None:
    ds = read_plain(plain_root)
    assert [(e.name, e.formula) for e in ds] == [("one", "x ^ { 2 }"), ("two", "a \\quad b")]
    assert ds.shape(0) == (15, 40)
    assert ds.image(1).shape == (12, 30)


def test_plain_errors(plain_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such labels file"):
        read_plain(tmp_path)
    bad = plain_root / "bad.tsv"
    bad.write_text("one.png x\n")
    with pytest.raises(DatasetError, match=r"bad.tsv line 1: expected 'image<TAB>formula'"):
        read_plain(plain_root, bad)
    miss = plain_root / "miss.tsv"
    miss.write_text("one.png\tx\ngone.png\ty\n")
    with pytest.raises(DatasetError, match="1 of 2 images listed in .*miss.tsv are missing .*gone.png"):
        read_plain(plain_root, miss)
    with pytest.warns(DatasetWarning):
        assert len(read_plain(plain_root, miss, skip_missing=True)) == 1


def test_corrupt_image_raises_image_error(plain_root: Path) -> None:
    (plain_root / "one.png").write_bytes(b"garbage")
    ds = read_plain(plain_root)
    with pytest.raises(ImageError, match="one.png"):
        ds.image(0)
    with pytest.raises(ImageError, match="one.png"):
        ds.shape(0)


# ---------------------------------------------------------------- formulas only (val_test tsv)


def test_formulas_tsv(tmp_path: Path) -> None:
    d = tmp_path / "data" / "formulas"
    d.mkdir(parents=True)
    (d / "val_test_normalized_by_idx.tsv").write_text(
        "formula_idx\tsplit\timage_name\tsource\tnorm_formula\n"
        "0\tvalidate\tabc\tx\ta + b\n3\ttest\tdef\tx\tc\n4\tvalidate\tghi\tx\t\\alpha\n"
    )
    root = tmp_path / "data"
    assert detect_layout(root) == "formulas-tsv"
    assert formulas_of(root, "validate") == ["a + b", "\\alpha"]
    assert formulas_of(d / "val_test_normalized_by_idx.tsv", "test") == ["c"]
    with pytest.raises(DatasetError, match=r"no formulas for split 'train' \(it has: test, validate\)"):
        formulas_of(root, "train")
    with pytest.raises(DatasetError, match="formulas only"):
        open_split(root, "validate")
