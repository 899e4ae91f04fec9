"""Tests for img2tex.data.dataset: what the network reads from a split."""

from __future__ import annotations

import numpy as np
import pytest

from img2tex.data.dataset import SplitDataset
from img2tex.errors import ImageError
from img2tex.images import ImageConfig
from img2tex.vocab import build_vocab


def test_an_unreadable_image_is_replaced_by_the_next_item(fake_split: type) -> None:
    class WithBlanks(fake_split):  # type: ignore[misc, valid-type]
        def image(self, i: int) -> np.ndarray:
            a = super().image(i)
            return np.full_like(a, 250) if i in (3, 4) else a  # no ink: preprocess refuses it

    src = WithBlanks(8)
    vocab = build_vocab(src.formula(i).split() for i in range(len(src)))
    with pytest.raises(ImageError):  # scoring: a bad image is an error, not silently another one
        SplitDataset(src, vocab, ImageConfig())[3]
    ds = SplitDataset(src, vocab, ImageConfig(), replace_unreadable=True)
    k, image, ids = ds[3]
    assert k == 5 and ids == vocab.encode(src.formula(5).split())  # image and label stay together
    assert ds[2][0] == 2 and image.min() == 0

    class AllBlank(fake_split):  # type: ignore[misc, valid-type]
        def image(self, i: int) -> np.ndarray:
            return np.full_like(super().image(i), 250)

    with pytest.raises(ImageError, match="no readable image"):
        SplitDataset(AllBlank(3), vocab, ImageConfig(), replace_unreadable=True)[0]
