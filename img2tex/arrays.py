"""Order statistics for `predict`'s path that give numpy's exact results without its cost.

numpy's `median`, `percentile` and `unique` import `numpy.ma` on first use (about 20 ms, a tenth
of `img2tex predict`'s own start-up beyond importing numpy, Pillow and ONNX Runtime) to check
for masked arrays. These do the same arithmetic through `np.partition` and `np.sort`, so
preprocessing and the well-formed filter give bit-identical answers (tests/test_arrays.py
compares them with numpy's).
"""

from __future__ import annotations

import math

import numpy as np


def median(a: np.ndarray) -> float:
    """`float(np.median(a))`: the middle value, or the mean of the two middle ones."""
    flat = np.asarray(a).ravel()
    n = flat.size
    if n == 0:
        return math.nan
    half = n // 2
    if n % 2:
        return float(np.partition(flat, half)[half])
    part = np.partition(flat, [half - 1, half])
    return (float(part[half - 1]) + float(part[half])) / 2.0


def percentile(a: np.ndarray, q: float) -> float:
    """`float(np.percentile(a, q))` with numpy's default (linear) method."""
    flat = np.asarray(a).ravel()
    n = flat.size
    if n == 0:
        return math.nan
    index = (q / 100.0) * (n - 1)
    lo = math.floor(index)
    hi = min(lo + 1, n - 1)
    part = np.partition(flat, [lo, hi]) if hi != lo else np.partition(flat, lo)
    below, above = float(part[lo]), float(part[hi])
    t = index - lo
    diff = above - below
    # numpy's _lerp: from the nearer end, so that t = 1 gives `above` exactly
    return above - diff * (1.0 - t) if t >= 0.5 else below + diff * t


def unique(a: np.ndarray) -> np.ndarray:
    """`np.unique(a)`: the sorted distinct values of a flattened array."""
    return unique_inverse(a)[0]


def unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(a, return_inverse=True)` for a flattened array: distinct values and, for
    each element, the index of its value among them."""
    flat = np.asarray(a).ravel()
    order = np.argsort(flat, kind="stable")
    s = flat[order]
    if s.size == 0:
        return s, np.zeros(0, dtype=np.intp)
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    inverse = np.empty(s.size, dtype=np.intp)
    inverse[order] = np.cumsum(first) - 1
    return s[first], inverse
