"""`img2tex predict`: images (files, folders, stdin) to LaTeX."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from img2tex.cli.common import BEAM_HELP, EXIT_ERROR, EXIT_PARTIAL, app, console, fail, writable_folder
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.predict import BATCH_SIZE as PREDICT_BATCH_SIZE


# ------------------------------------------------------------------------------------ predict
@app.command()
def predict(
    images: Annotated[
        list[str], typer.Argument(help="Image files or folders (searched recursively); '-' reads paths from stdin.")
    ],
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the shipped model).")] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Write one .tex per image here (mirroring names) instead of printing."),
    ] = None,
    beam: Annotated[int, typer.Option(help=BEAM_HELP)] = DecodeConfig.beam,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="latex: readable LaTeX, as a person writes it (x^{2} - 4ac); tokens: the normalized "
            "token form, as im2latex-100k spells formulas (x ^ { 2 } - 4 a c).",
        ),
    ] = "latex",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON line per image: path, latex (readable), tokens, score (or error)."),
    ] = False,
    attention: Annotated[
        Optional[Path],
        typer.Option(
            help="Also write DIR/<image name>.png: for each output token, where the model looked (its "
            "attention over the image), one labelled panel per token."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images decoded together.")] = PREDICT_BATCH_SIZE,
    scale: Annotated[
        Optional[float], typer.Option(help="Rescale factor instead of the automatic glyph-size estimate.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    engine: Annotated[
        str,
        typer.Option(
            help="onnx (ONNX Runtime, CPU, no torch), torch (needs img2tex[train]; CPU or CUDA) or auto "
            "(onnx on the CPU when the model folder has an export)."
        ),
    ] = "auto",
) -> None:
    """Read formula images and write their LaTeX.

    One image prints its LaTeX on stdout. Several images print one line each, prefixed with
    the path (or use --json, or --out DIR to get .tex files). A bad image gets an error line on
    stderr and the rest go on; the exit code is then 3.

    **Examples**

      img2tex predict formula.png

      img2tex predict formula.png --format tokens

      img2tex predict formula.png --attention att/    (att/formula.png: where each token was read)

      img2tex predict scans/ --out tex/ --beam 1    (greedy: fastest)

      find . -name '*.png' | img2tex predict - --json > results.jsonl
    """
    from img2tex.predict import FORMATS, Img2Tex

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    paths: list[str] = []
    for item in images:
        if item == "-":
            paths.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            paths.append(item)
    if not paths:
        raise fail("no images given")
    for p in paths:
        if Path(p).is_dir() and not any(Path(p).rglob("*.*")):
            raise fail(f"{p}: folder is empty")
    for folder, option in ((out, "--out"), (attention, "--attention")):
        if folder is not None:
            writable_folder(folder, option)
    reader = Img2Tex(model, device=device, beam=beam, batch_size=batch_size, scale=scale, engine=engine)
    single = len(paths) == 1 and not Path(paths[0]).is_dir()
    failed = done = 0
    for res in reader.predict_paths(paths, out_dir=out, fmt=fmt, attention_dir=attention):
        if not res.ok:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"path": str(res.path), "error": res.error}))
            console.print(f"[red]error:[/red] {escape(res.error or '')}", highlight=False, soft_wrap=True)
            continue
        done += 1
        text = res.latex if fmt == "latex" else res.tokens
        if as_json:
            record = {
                "path": str(res.path),
                "latex": res.latex,
                "tokens": res.tokens,
                "score": round(res.score or 0.0, 4),
            }
            typer.echo(json.dumps(record))
        elif out is not None:
            console.print(f"{res.path} -> {res.tex_path}", highlight=False)
        elif single:
            typer.echo(text)
        else:
            typer.echo(f"{res.path}\t{text}")
    if done == 0 and failed == 0:
        raise fail("no images found (looked for .png, .jpg, .jpeg)")
    if failed:
        raise typer.Exit(EXIT_ERROR if done == 0 else EXIT_PARTIAL)
