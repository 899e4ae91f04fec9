"""`img2tex eval`: decode a labelled split and score it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from img2tex.cli.common import (
    BEAM_HELP,
    MODEL_HELP,
    RESCALE_BY_LAYOUT,
    DeviceOption,
    EngineOption,
    app,
    console,
    fail,
    given,
)
from img2tex.decoding.hypotheses import DecodeConfig


# --------------------------------------------------------------------------------------- eval
@app.command("eval")
def evaluate_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder (any layout) holding the split to score.")],
    model: Annotated[Optional[Path], typer.Option(help=MODEL_HELP)] = None,
    split: Annotated[str, typer.Option(help="Split to decode.")] = "test",
    beam: Annotated[int, typer.Option(help=BEAM_HELP)] = DecodeConfig.beam,
    limit: Annotated[Optional[int], typer.Option(help="Score only the first N images.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images decoded together [default: 32].")] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Folder for predictions.tsv and report.json.")
    ] = None,
    rescale: Annotated[
        Optional[bool],
        typer.Option(
            "--rescale/--no-rescale",
            help="Bring every image to the model's glyph size as predict does (--rescale), or read every image "
            "as stored (--no-rescale) " + RESCALE_BY_LAYOUT,
        ),
    ] = None,
    device: DeviceOption = "auto",
    engine: EngineOption = "auto",
    normalize: Annotated[bool, typer.Option(help="Normalize raw im2latex formulas first.")] = False,
    well_formed: Annotated[
        bool,
        typer.Option(
            "--well-formed/--any-tokens",
            help="Keep every answer valid LaTeX as it is decoded (balanced braces and \\left/\\right, "
            "paired environments, arguments given), or let the model write any token sequence.",
        ),
    ] = DecodeConfig.well_formed,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Answer with the candidate of the beam whose typeset picture matches the image, as "
            "predict --verify does (needs LaTeX).",
        ),
    ] = False,
    image_match: Annotated[
        bool,
        typer.Option(
            "--image-match",
            help="Also render each prediction and its reference (needs LaTeX) and report the image match "
            "as im2markup defines it (a few columns of difference tolerated) and strictly (the same ink), and "
            "the share of predictions that do not compile.",
        ),
    ] = False,
) -> None:
    """Decode a split and score it: BLEU-4, token edit distance, edit accuracy, exact match.

    BLEU-4 is sacrebleu's corpus BLEU over the space-separated normalized tokens (no further
    tokenization); edit accuracy is im2markup's 1 - sum(lev) / sum(max(len_ref, len_hyp)) over
    tokens. The table goes to stderr, the JSON report to stdout.

    **Examples**

      img2tex eval data/test --split test --beam 5 -o results/test-beam5

      img2tex eval data/im2latex-100k --split test --normalize --limit 500   (the distributed full pages)

      img2tex eval data/test --split test --image-match --limit 1000

      img2tex eval data/crohme --split 2014 --model models/handwritten   (CROHME's expression rate)
    """
    from rich.table import Table

    from img2tex.data.layout import open_split
    from img2tex.predict import resolve_model
    from img2tex.scoring.evaluate import evaluate

    data_split = open_split(data, split, normalize=normalize)
    if len(data_split) == 0:
        raise fail(f"{data}: split {split!r} is empty")
    for reason, count in (getattr(data_split, "skipped", None) or {}).items():
        console.print(f"{data}: {count} example(s) of {split!r} left out ({reason})", highlight=False, soft_wrap=True)
    report = evaluate(
        resolve_model(model),
        data_split,
        beam=beam,
        limit=limit,
        out_dir=out,
        device=device,
        scale="auto" if rescale is None else (None if rescale else 1.0),
        engine=engine,
        image_match=image_match,
        well_formed=well_formed,
        verify=verify,
        **given(batch_size=batch_size),
    )
    table = Table(title=f"{split}: {report['count']} images, beam {beam}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("BLEU-4", f"{report['bleu']:.2f}")
    table.add_row("edit accuracy (im2markup)", f"{report['edit_accuracy']:.2%}")
    table.add_row("mean normalized edit distance", f"{report['mean_edit_distance']:.4f}")
    table.add_row("exact match (on CROHME: expression rate)", f"{report['exact_match']:.2%}")
    table.add_row("within 1 / 2 token edits", f"{report['within_1']:.2%} / {report['within_2']:.2%}")
    if "image_match" in report:
        im = report["image_match"]
        table.add_row("image match (im2markup's tolerances)", f"{im['accuracy']:.2%}")
        table.add_row("image match (strict: the same ink)", f"{im['strict_accuracy']:.2%}")
        table.add_row("predictions that do not compile", f"{im['not_compiled']:.2%}")
    table.add_row("images/s", f"{report['images_per_s']:.1f}")
    console.print(table)
    typer.echo(json.dumps(report))
