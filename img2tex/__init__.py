"""img2tex: read an image of a formula, write the LaTeX that typesets it.

    >>> from img2tex import Img2Tex
    >>> Img2Tex().predict("formula.png").latex
    'x = \\frac{-b \\pm \\sqrt{b^{2} - 4ac}}{2a}'

`Img2Tex` is imported on first use, so that `import img2tex` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Img2Tex", "Prediction", "__version__"]

if TYPE_CHECKING:
    from img2tex.predict import Img2Tex, Prediction


def __getattr__(name: str) -> Any:
    if name in ("Img2Tex", "Prediction"):
        from img2tex import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'img2tex' has no attribute {name!r}")
