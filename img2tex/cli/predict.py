"""`img2tex predict`: images (files, folders, stdin) to LaTeX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from img2tex.cli.common import (
    BEAM_HELP,
    MODEL_HELP,
    DeviceOption,
    EngineOption,
    app,
)
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.predict import BATCH_SIZE as PREDICT_BATCH_SIZE


# ------------------------------------------------------------------------------------ predict
@app.command()
def predict(
    images: Annotated[
        Optional[list[str]],
        typer.Argument(help="Image files or folders (searched recursively); '-' reads paths from stdin."),
    ] = None,
    model: Annotated[Optional[Path], typer.Option(help=MODEL_HELP)] = None,
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
            "token form, as im2latex-100k spells formulas (x ^ { 2 } - 4 a c); mathml: MathML, for where "
            "LaTeX does not go (--out writes .mml files).",
        ),
    ] = "latex",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="One JSON line per image: path, latex (readable), tokens, mathml, score (or error)."
        ),
    ] = False,
    n_best: Annotated[
        Optional[int],
        typer.Option(
            "--n-best",
            help="With --json: each record also lists the beam's K best answers (candidates: latex, tokens, "
            "score), best first; the beam is widened to K when it is narrower.",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Typeset the beam's best answers and answer with the one whose picture matches the image "
            "(needs LaTeX: Debian's texlive-latex-base, preview-latex-style and dvipng).",
        ),
    ] = False,
    clipboard: Annotated[
        bool,
        typer.Option(
            "--clipboard",
            help="Read the image on the clipboard (wl-paste on Wayland, xclip on X11, the system's on macOS "
            "and Windows) instead of files.",
        ),
    ] = False,
    copy: Annotated[bool, typer.Option("--copy", help="Also put the answer (in --format) on the clipboard.")] = False,
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
    device: DeviceOption = "auto",
    engine: EngineOption = "auto",
) -> None:
    """Read formula images and write their LaTeX.

    One image prints its LaTeX on stdout. Several images print one line each, prefixed with
    the path (or use --json, or --out DIR to get .tex files). A bad image gets an error line on
    stderr and the rest go on; the exit code is then 3.

    **Examples**

      img2tex predict formula.png

      img2tex predict formula.png --format tokens

      img2tex predict --clipboard --copy    (a screenshot on the clipboard in, its LaTeX on the clipboard out)

      img2tex predict formula.png --format mathml

      img2tex predict formula.png --attention att/    (att/formula.png: where each token was read)

      img2tex predict scans/ --out tex/ --beam 1    (greedy: fastest)

      find . -name '*.png' | img2tex predict - --json > results.jsonl

      img2tex predict formula.png --json --n-best 5    (the beam's five best answers, with scores)

      img2tex predict scans/ --verify    (typeset the candidates, answer with the one that looks like the image)
    """
    options = dict(locals())  # the parameters, as read_images names them
    from img2tex.cli.read import read_images

    read_images(**options)
