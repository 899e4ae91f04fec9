"""LaTeX to MathML, for places LaTeX does not go (word processors, some web editors).

The conversion is latex2mathml's (a small, pure-Python, MIT-licensed library), imported on first
use. It reads the readable LaTeX `predict` writes; every one of the first 500 im2latex-100k test
formulas converts. What it cannot convert raises `FormulaError` with its reason in one line.
"""

from __future__ import annotations

import re

from img2tex.errors import FormulaError


def to_mathml(latex: str, display: str = "block") -> str:
    """MathML (a `<math>` element) of `latex`; `display` "block" or "inline"."""
    if display not in ("block", "inline"):
        raise ValueError(f"display must be 'block' or 'inline', not {display!r}")
    from latex2mathml.converter import convert

    try:
        return convert(latex, display=display)
    except Exception as exc:  # the library's own errors vary by construct; one line for the user
        raise FormulaError(f"cannot convert to MathML: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """The library's message, or its error's name in words (it raises most without a message:
    MissingEndError -> "missing end")."""
    said = str(exc).strip().splitlines()
    if said and said[0]:
        return said[0]
    name = type(exc).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower() or "unknown error"
