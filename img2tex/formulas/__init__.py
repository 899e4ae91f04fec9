"""Training formulas: where they come from.

- `synth`: synthetic formulas from a grammar of the structures im2latex-100k holds;
- `corpus`: the default model's training formula set, assembled from the shared data and kept
  apart from every test and held-out formula in any spelling.

Names are imported from their module; this package re-exports nothing.
"""
