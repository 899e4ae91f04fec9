"""What a labelled split is: the `Split` protocol, split names, and several splits read as one.

A *split* is a sequence of labelled formula images (formula, name, image, stored size). Every
layout reader returns one (`folders.FolderSplit`, `packed.PackedSplit`, `ConcatSplit`), and
training, evaluation and `img2tex vocab` take any of them. The torch side
(`pipeline.SplitDataset`) turns a split into tensors.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from img2tex.errors import DatasetError

SPLIT_ALIASES = {"val": "validate", "valid": "validate", "validation": "validate", "dev": "validate"}


@runtime_checkable
class Split(Protocol):
    """A labelled split: what training, evaluation and `img2tex vocab` need from a dataset."""

    def __len__(self) -> int: ...
    def formula(self, i: int) -> str: ...
    def name(self, i: int) -> str: ...
    def image(self, i: int) -> np.ndarray: ...
    def shape(self, i: int) -> tuple[int, int]: ...


def needs_rescale(split: Split, i: int) -> bool:
    """Whether item `i`'s image must be brought to the model's glyph size before it is read.

    The layout knows: renders at the training look (the processed layout, packed data) are
    read as stored, while im2latex-100k's distributed full pages (drawn at twice the glyph size)
    and folders of a user's own images are rescaled as `img2tex predict` rescales them. A split
    says so by a `rescale` attribute, or a `rescale_at(i)` method when its items differ
    (`ConcatSplit`); a split with neither is read as stored.
    """
    at = getattr(split, "rescale_at", None)
    if at is not None:
        return bool(at(i))
    return bool(getattr(split, "rescale", False))


def canonical_split(split: str) -> str:
    """'val'/'valid'/'validation'/'dev' -> 'validate' (im2latex's name); others unchanged."""
    return SPLIT_ALIASES.get(split.lower(), split)


def split_spellings(split: str) -> list[str]:
    """Spellings to try for a split in file names, as given first, then im2latex's."""
    c = canonical_split(split)
    names = [c] + [a for a, v in SPLIT_ALIASES.items() if v == c and a != c]
    if split not in names:
        names.insert(0, split)
    return names


class ConcatSplit:
    """Several splits read as one (e.g. clean and augmented renders of a training set)."""

    def __init__(self, parts: Sequence[Split]) -> None:
        if not parts:
            raise DatasetError("no datasets given")
        self.parts = list(parts)
        self._starts = list(itertools.accumulate((len(p) for p in self.parts), initial=0))

    def __len__(self) -> int:
        return self._starts[-1]

    def _locate(self, i: int) -> tuple[Split, int]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = bisect.bisect_right(self._starts, i) - 1
        return self.parts[k], i - self._starts[k]

    def formula(self, i: int) -> str:
        part, j = self._locate(i)
        return part.formula(j)

    def name(self, i: int) -> str:
        part, j = self._locate(i)
        return part.name(j)

    def image(self, i: int) -> np.ndarray:
        part, j = self._locate(i)
        return part.image(j)

    def shape(self, i: int) -> tuple[int, int]:
        part, j = self._locate(i)
        return part.shape(j)

    def rescale_at(self, i: int) -> bool:
        part, j = self._locate(i)
        return needs_rescale(part, j)
