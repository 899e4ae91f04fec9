"""The default model shipped with img2tex (weights, config and vocabulary)."""
