"""`img2tex predict`'s work, without Typer: `cli.predict` declares the command and its options
and calls `read_images`; `img2tex predict PATH...` with no options calls it directly (`cli.main`),
which saves importing Typer, about a tenth of a one-image start-up. The defaults here are the
command's (a test compares the two signatures)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from img2tex.cli.output import EXIT_ERROR, EXIT_PARTIAL, EXIT_USAGE, console, fail, print_error, writable_folder
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.errors import Img2TexError
from img2tex.predict import BATCH_SIZE


def read_images(
    images: list[str] | None = None,
    model: Path | None = None,
    out: Path | None = None,
    beam: int = DecodeConfig.beam,
    fmt: str = "latex",
    as_json: bool = False,
    n_best: int | None = None,
    verify: bool = False,
    clipboard: bool = False,
    copy: bool = False,
    attention: Path | None = None,
    batch_size: int = BATCH_SIZE,
    scale: float | None = None,
    device: str = "auto",
    engine: str = "auto",
) -> None:
    """Read the images (or the clipboard's) and print or write their LaTeX; exits 1 when none
    could be read, 3 when some could not (`img2tex predict --help` has the options)."""
    from img2tex.predict import FORMATS, Img2Tex

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if clipboard and images:
        raise fail("--clipboard reads the image on the clipboard: give no image paths with it", EXIT_USAGE)
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
        raise fail("--out and --attention name files after the images: not with --clipboard", EXIT_USAGE)
    if n_best is not None and (n_best < 1 or not as_json):
        raise fail("--n-best K needs K >= 1 and --json (the candidates are JSON)", EXIT_USAGE)
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
                _echo(json.dumps({"path": str(res.path or "clipboard"), "error": res.error}))
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
            _echo(json.dumps(record))
        elif out is not None:
            console.print(f"{res.path} -> {res.tex_path}", highlight=False)
        else:
            _echo(answers[-1])
    if done == 0 and failed == 0:
        raise fail("no images found (looked for .png, .jpg, .jpeg)")
    if copy and answers:
        from img2tex.clipboard import copy_text

        copy_text("\n".join(answers))
        console.print("copied to the clipboard", highlight=False)
    if failed:
        raise SystemExit(EXIT_ERROR if done == 0 else EXIT_PARTIAL)


def _echo(text: str) -> None:
    """A result line on stdout, flushed so that a pipeline sees each answer as it comes."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


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
