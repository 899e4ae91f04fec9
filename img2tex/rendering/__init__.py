"""Rendering formulas to images: the training data and render-and-compare.

- `renderer`: `RenderConfig`, LaTeX (dvipng, Ghostscript, pdftoppm) in batches, the looks
  (fonts, sizes, colour, noise) and the processed im2latex layout it writes;
- `katex`: the same formulas drawn as a web page draws them (KaTeX in headless Chromium).

Names are imported from their module; this package re-exports nothing.
"""
