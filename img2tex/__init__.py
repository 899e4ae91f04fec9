"""img2tex: read an image of a formula, write the LaTeX that typesets it."""

__version__ = "0.1.0"
