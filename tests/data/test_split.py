"""Tests for img2tex.data.split: split names, and several splits read as one (ConcatSplit)."""

from __future__ import annotations

import numpy as np
import pytest

from img2tex.data.split import ConcatSplit, Split, canonical_split
from img2tex.errors import DatasetError


def test_canonical_split() -> None:
    assert [canonical_split(s) for s in ("val", "Valid", "dev", "train", "test")] == [
        "validate",
        "validate",
        "validate",
        "train",
        "test",
    ]


def test_concat_split_reads_its_parts_in_order(fake_split: type) -> None:
    a, b = fake_split(3), fake_split(2)
    both = ConcatSplit([a, b])
    assert isinstance(both, Split) and len(both) == 5
    assert [both.name(i) for i in range(5)] == ["img0", "img1", "img2", "img0", "img1"]
    assert [both.formula(i) for i in range(5)] == a.formulas + b.formulas
    assert both.shape(4) == b.shape(1)
    assert np.array_equal(both.image(3), b.image(0))
    with pytest.raises(IndexError):
        both.formula(5)
    with pytest.raises(IndexError):
        both.formula(-1)


def test_concat_split_of_nothing_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="no datasets"):
        ConcatSplit([])
