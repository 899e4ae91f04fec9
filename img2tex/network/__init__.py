"""The network: its sizes, the torch model, its files and its ONNX export.

- `config`: `ModelConfig` and the presets (torch-free);
- `attention`: Bahdanau (additive) attention over the encoder's grid (torch);
- `model`: the encoder and the two decoders (torch);
- `folder`: a model folder's config and vocabulary (torch-free, for prediction without torch);
- `checkpoint`: weights and training state as safetensors and JSON (torch);
- `export`: the ONNX graphs ONNX Runtime decodes with, and the check that they match the weights.

Names are imported from their module; this package re-exports nothing.
"""
