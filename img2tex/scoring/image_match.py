"""Image match: render each prediction and its reference and compare the pictures, so that two
spellings of the same formula count as a match.

Both token forms are typeset by `rendering.renderer.render_formulas` as im2markup's
`render_latex.py` typesets them for this comparison (`IM2MARKUP_LOOK`: pdflatex, rasterized by
Ghostscript at 200 dpi, cropped, not downsampled: the tolerances below are in pixels of that
resolution), binarized (ink = darker than mid-grey) and stripped of whitespace columns, then
compared in two ways:

- **im2markup's** (`im2markup_match`, reported as `accuracy`), re-implemented from its
  `scripts/evaluation/evaluate_image.py` (the "w/o spaces" match): ink at grey <= 128; each
  non-blank pixel column is a symbol, and columns that differ in fewer than 5 pixels are the same
  symbol; the two column strings are aligned by Levenshtein edits, and only a replaced or deleted
  run of 5 or more reference columns is a mismatch (so a few columns of difference, and columns
  only the prediction has, still match). This is the figure papers report.
- **strict** (`strict_match`, reported as `strict_accuracy`): the same ink columns in the same
  order, pixel for pixel.

A prediction that does not render (does not compile, is refused, or is empty) is no match and
is counted apart; an image whose reference does not render is left out of both.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from img2tex.rendering.renderer import RenderConfig, render_formulas
from img2tex.tokenizer import to_latex

#: How both formulas are drawn for the comparison: as im2markup's evaluation draws them.
IM2MARKUP_LOOK = RenderConfig(rasterizer="gs", dpi=200, downsample=1, batch_size=100)
#: Grey level below which a pixel is ink (im2markup binarizes at half intensity).
INK_LEVEL = 128
#: im2markup's tolerances: columns differing in fewer than this many pixels are the same symbol,
#: and an edit run must span at least this many reference columns to be a mismatch.
SAME_COLUMN_PIXELS = 5
MISMATCH_RUN = 5


def ink_columns(a: np.ndarray) -> np.ndarray:
    """A 2-D grey image -> its binarized ink with all-white columns (and rows) removed."""
    ink = a < INK_LEVEL
    cols = ink.any(axis=0)
    rows = ink.any(axis=1)
    return ink[rows][:, cols]


def strict_match(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal ink after removing whitespace columns and rows, pixel for pixel."""
    x, y = ink_columns(a), ink_columns(b)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def _columns(a: np.ndarray) -> np.ndarray:
    """im2markup's columns: ink at grey <= 128, non-blank columns only, as rows of an array
    (height as the image's; the top rows are kept, as im2markup pads heights at the bottom)."""
    ink = (a <= INK_LEVEL).T
    return ink[ink.any(axis=1)]


def _symbols(x: np.ndarray, y: np.ndarray) -> tuple[list[int], list[int]]:
    """Each column of `x`, then of `y`, as a symbol: the first earlier column (of either) that
    differs from it in fewer than SAME_COLUMN_PIXELS pixels, else a new one (im2markup's
    `make_strs`, greedy in the same order)."""
    h = max(x.shape[1] if x.size else 0, y.shape[1] if y.size else 0)
    cols = np.zeros((len(x) + len(y), h), dtype=np.int16)
    cols[: len(x), : x.shape[1] if x.size else 0] = x
    cols[len(x) :, : y.shape[1] if y.size else 0] = y
    seen: list[int] = []  # indices into cols of the symbols' first columns
    out: list[int] = []
    for i in range(len(cols)):
        if seen:
            d = np.abs(cols[seen] - cols[i]).sum(axis=1)
            j = int(np.argmax(d < SAME_COLUMN_PIXELS)) if (d < SAME_COLUMN_PIXELS).any() else -1
        else:
            j = -1
        if j < 0:
            seen.append(i)
            out.append(len(seen) - 1)
        else:
            out.append(j)
    return out[: len(x)], out[len(x) :]


def _edit_runs(s: Sequence[int], t: Sequence[int]) -> list[tuple[str, int, int]]:
    """Levenshtein edits turning `s` into `t`, grouped into runs of one kind: (kind, start, end)
    over `s` for "replace", "delete" and "insert" (an insert spans no column of `s`)."""
    n, m = len(s), len(t)
    a, b = np.asarray(s), np.asarray(t)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[0] = np.arange(m + 1)
    steps = np.arange(m + 1)
    for i in range(1, n + 1):
        sub = d[i - 1, :-1] + (a[i - 1] != b)
        best = np.empty(m + 1, dtype=np.int32)
        best[0] = i
        best[1:] = np.minimum(d[i - 1, 1:] + 1, sub)
        # insertions within the row: d[i, j] = min over k <= j of best[k] + (j - k)
        d[i] = np.minimum.accumulate(best - steps) + steps
    runs: list[tuple[str, int, int]] = []
    i, j = n, m
    ops: list[tuple[str, int]] = []
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            ops.append(("equal" if a[i - 1] == b[j - 1] else "replace", i - 1))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            ops.append(("delete", i - 1))
            i -= 1
        else:
            ops.append(("insert", i))
            j -= 1
    for kind, at in reversed(ops):
        if kind == "equal":
            continue
        end = at if kind == "insert" else at + 1
        if runs and runs[-1][0] == kind and runs[-1][2] == at:
            runs[-1] = (kind, runs[-1][1], end)
        else:
            runs.append((kind, at, end))
    return runs


def im2markup_match(ref: np.ndarray, hyp: np.ndarray) -> bool:
    """im2markup's image match without whitespace columns (see the module docstring): no
    replaced or deleted run of MISMATCH_RUN or more reference columns."""
    x, y = _columns(ref), _columns(hyp)
    if len(x) == 0 or len(y) == 0:
        return len(x) == len(y)
    sx, sy = _symbols(x, y)
    return all(end - start < MISMATCH_RUN for kind, start, end in _edit_runs(sx, sy) if kind != "insert")


def image_match(
    refs: Sequence[str],
    hyps: Sequence[str],
    cfg: RenderConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Render token-form references and predictions and compare them pairwise.

    Returns accuracy (im2markup's match / compared), strict_accuracy (pixel-equal ink / compared),
    not_compiled (share of compared predictions that did not render), compared, matched,
    strict_matched, prediction_failed and reference_failed (left out). `progress` is advanced by
    one per formula rendered (2 per pair).
    """
    cfg = cfg or IM2MARKUP_LOOK
    n = len(refs)
    formulas = [to_latex(f) for f in refs] + [to_latex(f) for f in hyps]
    names = [f"ref{i:06d}" for i in range(n)] + [f"hyp{i:06d}" for i in range(n)]
    matched = strict = hyp_failed = ref_failed = 0
    with tempfile.TemporaryDirectory(prefix="img2tex-match-") as tmp:
        render_formulas(formulas, tmp, cfg, names=names, progress=progress)
        images = Path(tmp) / "images_processed"
        for i in range(n):
            ref, hyp = images / f"ref{i:06d}.png", images / f"hyp{i:06d}.png"
            if not ref.exists():
                ref_failed += 1
            elif not hyp.exists():
                hyp_failed += 1
            else:
                a, b = np.asarray(Image.open(ref).convert("L")), np.asarray(Image.open(hyp).convert("L"))
                matched += im2markup_match(a, b)
                strict += strict_match(a, b)
    compared = n - ref_failed
    return {
        "accuracy": matched / compared if compared else 0.0,
        "strict_accuracy": strict / compared if compared else 0.0,
        "not_compiled": hyp_failed / compared if compared else 0.0,
        "compared": compared,
        "matched": matched,
        "strict_matched": strict,
        "prediction_failed": hyp_failed,
        "reference_failed": ref_failed,
    }
