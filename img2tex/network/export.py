"""The network exported for inference: two ONNX graphs beside the weights, and their check.

A model folder's `model.safetensors` stays the source of truth (training reads and writes it);
`export_model` writes from it, with torch's ONNX exporter:

    encoder.onnx        images (B, 1, H, W), image_mask (B, H, W) -> feats, keys, mask, h, c
                        (the encoder, attention keys and initial decoder state)
    decoder_step.onnx   tokens (B,), h, c, feats, keys, mask -> logp (B, vocab), h_out, c_out,
                        alpha (B, cells): one decoder step with its attention weights
    export.json         format, version, the SHA-256 of the model.safetensors they were made from

Batch size, image size and grid size are dynamic (H and W multiples of the encoder's
downsampling, as batches padded to the bucket grid are). `check_export` refuses graphs whose
weights digest is not that of the model.safetensors beside them, so a retrained folder with a
stale export fails with one clear line instead of decoding with old weights. Reading the digest
needs no torch and no onnx: only exporting does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from img2tex.errors import ModelError
from img2tex.fileio import atomic_write_text
from img2tex.network.folder import WEIGHTS

ENCODER, STEP, MANIFEST = "encoder.onnx", "decoder_step.onnx", "export.json"
FORMAT, VERSION = "img2tex-onnx", 1
ENCODER_IO = (("images", "image_mask"), ("feats", "keys", "mask", "h", "c"))
STEP_IO = (("tokens", "h", "c", "feats", "keys", "mask"), ("logp", "h_out", "c_out", "alpha"))


def weights_digest(model_dir: str | Path) -> str:
    """SHA-256 (hex) of the folder's model.safetensors."""
    path = Path(model_dir) / WEIGHTS
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        raise ModelError(f"model folder {path.parent}: {WEIGHTS} is missing") from None
    return h.hexdigest()


def has_export(model_dir: str | Path) -> bool:
    d = Path(model_dir)
    return all((d / name).is_file() for name in (ENCODER, STEP, MANIFEST))


def check_export(model_dir: str | Path) -> dict[str, Any]:
    """The manifest, once it is known to belong to the weights beside it; ModelError otherwise."""
    d = Path(model_dir)
    if not has_export(d):
        raise ModelError(f"model folder {d}: no ONNX export ({ENCODER}, {STEP}, {MANIFEST}); run `img2tex export {d}`")
    try:
        manifest = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{d / MANIFEST}: not readable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ModelError(f"{d / MANIFEST}: not an img2tex ONNX export of version {VERSION}")
    if manifest.get("weights_sha256") != weights_digest(d):
        raise ModelError(
            f"model folder {d}: the ONNX export was made from other weights than {WEIGHTS}; "
            f"re-export it with `img2tex export {d}`"
        )
    return manifest


def export_model(model_dir: str | Path) -> dict[str, Any]:
    """Export the model folder's network to ONNX beside its weights; returns the manifest.

    Needs torch and onnxscript (`pip install "img2tex[train]"`). Each file is written to a
    temporary name and renamed into place, the manifest last, so a crash never leaves a
    manifest that vouches for half-written graphs."""
    import torch
    from torch import nn

    from img2tex.network.checkpoint import load_model
    from img2tex.network.model import Memory, State

    d = Path(model_dir)
    model, _, _ = load_model(d, "cpu")
    model.eval()
    digest = weights_digest(d)

    class EncoderGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, images: torch.Tensor, image_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            memory = self.model.encode(images, image_mask)
            state = self.model.init_state(memory)
            return memory.feats, memory.keys, memory.mask, state.h, state.c

    class StepGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            tokens: torch.Tensor,
            h: torch.Tensor,
            c: torch.Tensor,
            feats: torch.Tensor,
            keys: torch.Tensor,
            mask: torch.Tensor,
        ) -> tuple[torch.Tensor, ...]:
            logp, state, alpha = self.model.step(State(h, c, Memory(feats, keys, mask)), tokens)
            return logp, state.h, state.c, alpha

    fh, fw = model.cfg.downsample
    # Sample sizes that are not 0 or 1 in any dynamic dimension (the exporter would specialise).
    images = torch.rand(2, 1, fh * 3, fw * 5)
    image_mask = torch.ones(2, fh * 3, fw * 5, dtype=torch.bool)
    batch, gh, gw, cells = (torch.export.Dim(n, min=1) for n in ("batch", "grid_h", "grid_w", "cells"))
    enc_shapes = {"images": {0: batch, 2: fh * gh, 3: fw * gw}, "image_mask": {0: batch, 1: fh * gh, 2: fw * gw}}
    with torch.no_grad():
        feats, keys, mask, h, c = EncoderGraph()(images, image_mask)
    tokens = torch.ones(2, dtype=torch.long)
    step_shapes = {
        "tokens": {0: batch},
        "h": {0: batch},
        "c": {0: batch},
        "feats": {0: batch, 1: cells},
        "keys": {0: batch, 1: cells},
        "mask": {0: batch, 1: cells},
    }
    (d / MANIFEST).unlink(missing_ok=True)  # no manifest vouches for graphs while they change
    # The exporter reports progress with print(); stdout belongs to results, so send it to stderr.
    with (
        tempfile.TemporaryDirectory(dir=d, prefix=".export-") as tmp,
        contextlib.redirect_stdout(sys.stderr),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # the exporter's notes on axis names and opsets are not the user's concern
        for graph, args, shapes, (inputs, outputs), name in (
            (EncoderGraph(), (images, image_mask), enc_shapes, ENCODER_IO, ENCODER),
            (StepGraph(), (tokens, h, c, feats, keys, mask), step_shapes, STEP_IO, STEP),
        ):
            try:
                program = torch.onnx.export(
                    graph,
                    args,
                    dynamo=True,
                    input_names=list(inputs),
                    output_names=list(outputs),
                    dynamic_shapes=shapes,
                    external_data=False,
                    verbose=False,
                )
            except Exception as exc:  # the exporter raises many kinds; all mean "could not export"
                raise ModelError(
                    f"model folder {d}: ONNX export of {name} failed ({type(exc).__name__}: {exc})"
                ) from None
            program.save(str(Path(tmp) / name))
            (Path(tmp) / name).replace(d / name)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "weights_sha256": digest,
        "torch": torch.__version__,
        "encoder": {"inputs": list(ENCODER_IO[0]), "outputs": list(ENCODER_IO[1])},
        "decoder_step": {"inputs": list(STEP_IO[0]), "outputs": list(STEP_IO[1])},
    }
    atomic_write_text(d / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest
