"""One exception family for every failure a user can cause.

The CLI turns an `Img2TexError` into a one-line message and a non-zero exit code; anything
else is a bug and keeps its traceback. Modules raise the most specific subclass so callers
(e.g. `predict` going on past one bad image) can tell expected failures from bugs.
"""


class Img2TexError(Exception):
    """A failure caused by input, not by a bug: reported as one line, exit code 1."""


class FormulaError(Img2TexError):
    """A formula that cannot be tokenized or normalized (e.g. unbalanced braces)."""


class ImageError(Img2TexError):
    """A missing, corrupt, empty, oversized or non-image file."""


class DatasetError(Img2TexError):
    """A dataset folder or list file that is missing or inconsistent."""


class RenderError(Img2TexError):
    """LaTeX is missing or a render run cannot start at all (single bad formulas are reported, not raised)."""


class ModelError(Img2TexError):
    """A model folder whose weights, config and vocabulary are missing or do not agree."""
