"""`img2tex export`: a model folder's network to ONNX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from img2tex.cli.common import app, console


# ------------------------------------------------------------------------------------- export
@app.command("export")
def export_command(
    model: Annotated[Path, typer.Argument(help="Model folder (model.safetensors, config.json, vocab.json).")],
) -> None:
    """Export a model folder's network to ONNX (encoder.onnx, decoder_step.onnx, export.json)
    beside its weights, so that it predicts on ONNX Runtime without torch.

    Training exports best/ when a run ends; use this for any other model folder, e.g. after
    copying weights by hand. Needs torch (pip install "img2tex[train]").

    **Example**

      img2tex export runs/small/best && img2tex predict formula.png --model runs/small/best
    """
    from img2tex.decoding.engine import require_torch

    require_torch("img2tex export")
    from img2tex.network.export import export_model

    manifest = export_model(model)
    console.print(f"exported {model} (weights sha256 {manifest['weights_sha256'][:12]}...)", highlight=False)
    typer.echo(json.dumps({"model": str(model), **manifest}))
