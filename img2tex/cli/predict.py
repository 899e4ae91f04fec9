"""`img2tex predict`: images (files, folders, stdin) to LaTeX."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from img2tex.cli.common import (
    BEAM_HELP,
    EXIT_ERROR,
    EXIT_PARTIAL,
    MODEL_HELP,
    DeviceOption,
    EngineOption,
    app,
    console,
    fail,
    print_error,
    writable_folder,
)
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.errors import Img2TexError
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
    from img2tex.predict import FORMATS, Img2Tex

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if clipboard and images:
        raise fail("--clipboard reads the image on the clipboard: give no image paths with it", 2)
    paths: list[str] = []
    for item in images or []:
        if item == "-":
            paths.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            paths.append(item)
    if not paths and not clipboard:
        raise fail("no images given (paths, '-' for paths on stdin, or --clipboard)")
    for p in paths:
        if Path(p).is_dir() and not any(Path(p).rglob("*.*")):
            raise fail(f"{p}: folder is empty")
    for folder, option in ((out, "--out"), (attention, "--attention")):
        if folder is not None:
            writable_folder(folder, option)
    if clipboard and (out is not None or attention is not None):
        raise fail("--out and --attention name files after the images: not with --clipboard", 2)
    if n_best is not None and (n_best < 1 or not as_json):
        raise fail("--n-best K needs K >= 1 and --json (the candidates are JSON)", 2)
    k = n_best or 1
    reader = Img2Tex(model, device=device, beam=beam, batch_size=batch_size, scale=scale, engine=engine, verify=verify)
    if clipboard:
        from img2tex.clipboard import read_image

        results = iter([_predict_clipboard(reader, read_image(), k)])
    else:
        results = reader.predict_paths(paths, out_dir=out, fmt=fmt, attention_dir=attention, n_best=k)
    single = clipboard or (len(paths) == 1 and not Path(paths[0]).is_dir())
    failed = done = 0
    answers: list[str] = []
    for res in results:
        text = None
        if res.ok:
            try:
                text = res.text(fmt)
            except Img2TexError as exc:
                res.error = f"{res.path or 'clipboard image'}: {exc}"
        if not res.ok:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"path": str(res.path or "clipboard"), "error": res.error}))
            print_error(res.error or "")
            continue
        done += 1
        answers.append(text if single else f"{res.path}\t{text}")
        if as_json:
            record = {
                "path": str(res.path or "clipboard"),
                "latex": res.latex,
                "tokens": res.tokens,
                "mathml": _mathml_or_none(res),
                "score": round(res.score or 0.0, 4),
            }
            if res.candidates is not None:
                record["candidates"] = [
                    {"latex": c.latex, "tokens": c.tokens, "score": round(c.score, 4)} for c in res.candidates
                ]
            typer.echo(json.dumps(record))
        elif out is not None:
            console.print(f"{res.path} -> {res.tex_path}", highlight=False)
        else:
            typer.echo(answers[-1])
    if done == 0 and failed == 0:
        raise fail("no images found (looked for .png, .jpg, .jpeg)")
    if copy and answers:
        from img2tex.clipboard import copy_text

        copy_text("\n".join(answers))
        console.print("copied to the clipboard", highlight=False)
    if failed:
        raise typer.Exit(EXIT_ERROR if done == 0 else EXIT_PARTIAL)


def _predict_clipboard(reader: Any, data: bytes, n_best: int) -> Any:
    """The clipboard image's Prediction, or one carrying its error (as a file's would)."""
    from img2tex.predict import Prediction

    try:
        return reader.predict(data, n_best=n_best)
    except Img2TexError as exc:
        return Prediction(error=f"clipboard image: {exc}")


def _mathml_or_none(res: Any) -> str | None:
    """MathML for --json, or None where the LaTeX does not convert (the record stays whole)."""
    try:
        return res.mathml
    except Img2TexError:
        return None
