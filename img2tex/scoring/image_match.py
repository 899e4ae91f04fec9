"""Image match (im2markup's image-based accuracy): render each prediction and its reference and
compare the pictures, so that two spellings of the same formula count as a match.

Both token forms are typeset by `render.render_formulas` with default settings (the processed
im2latex look), binarized (ink = darker than mid-grey) and stripped of whitespace columns, as
im2markup's `evaluate_image.py` does, then compared: a match is the same ink columns in the same
order. A prediction that does not render (does not compile, is refused, or is empty) is no
match and is counted apart; an image whose reference does not render is left out of both.
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

#: Grey level below which a pixel is ink (im2markup binarizes at half intensity).
INK_LEVEL = 128


def ink_columns(a: np.ndarray) -> np.ndarray:
    """A 2-D grey image -> its binarized ink with all-white columns (and rows) removed."""
    ink = a < INK_LEVEL
    cols = ink.any(axis=0)
    rows = ink.any(axis=1)
    return ink[rows][:, cols]


def images_match(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal ink after removing whitespace columns (im2markup's match without whitespace)."""
    x, y = ink_columns(a), ink_columns(b)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def image_match(
    refs: Sequence[str],
    hyps: Sequence[str],
    cfg: RenderConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Render token-form references and predictions and compare them pairwise.

    Returns accuracy (matches / compared), not_compiled (share of compared predictions that did
    not render), compared, matched, prediction_failed and reference_failed (left out). `progress`
    is advanced by one per formula rendered (2 per pair).
    """
    cfg = cfg or RenderConfig(batch_size=100)
    n = len(refs)
    formulas = [to_latex(f) for f in refs] + [to_latex(f) for f in hyps]
    names = [f"ref{i:06d}" for i in range(n)] + [f"hyp{i:06d}" for i in range(n)]
    matched = hyp_failed = ref_failed = 0
    with tempfile.TemporaryDirectory(prefix="img2tex-match-") as tmp:
        render_formulas(formulas, tmp, cfg, names=names, progress=progress)
        images = Path(tmp) / "images_processed"
        for i in range(n):
            ref, hyp = images / f"ref{i:06d}.png", images / f"hyp{i:06d}.png"
            if not ref.exists():
                ref_failed += 1
            elif not hyp.exists():
                hyp_failed += 1
            elif images_match(np.asarray(Image.open(ref).convert("L")), np.asarray(Image.open(hyp).convert("L"))):
                matched += 1
    compared = n - ref_failed
    return {
        "accuracy": matched / compared if compared else 0.0,
        "not_compiled": hyp_failed / compared if compared else 0.0,
        "compared": compared,
        "matched": matched,
        "prediction_failed": hyp_failed,
        "reference_failed": ref_failed,
    }
