"""Scoring predictions.

- `metrics`: BLEU-4, token edit distance, edit accuracy, exact match;
- `image_match`: render a prediction and its reference and compare the pictures;
- `evaluate`: decode a labelled split with a model and score it (`img2tex eval`).

Names are imported from their module; this package re-exports nothing.
"""
