"""Decoding: from images to token sequences, written once for every inference engine.

After whisper's decoding.py, split by job:

- `hypotheses`: settings (`DecodeConfig`), results (`Hypothesis`) and the loop guard;
- `engine`: the `Engine` protocol (encode a batch, advance one step, reorder beams) and
  `load_engine`, which picks ONNX Runtime on the CPU and torch for CUDA or training;
- `search`: greedy and beam search over numpy arrays, the one implementation every engine uses;
- `ort` (ONNX Runtime, no torch) and `torch_engine` (the torch network): the engines;
- `splits`: decoding a whole dataset split in batches of similar size (eval, validation).

Names are imported from their module; this package re-exports nothing.
"""
