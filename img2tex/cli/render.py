"""`img2tex render`: formula lists to images with LaTeX (or KaTeX)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from img2tex.cli.common import EXIT_PARTIAL, EXIT_USAGE, app, console, fail, given
from img2tex.progress import progress_bar
from img2tex.rendering.renderer import FONTS, RASTERIZERS, RenderConfig


# ------------------------------------------------------------------------------------- render
@app.command()
def render(
    formulas: Annotated[Path, typer.Argument(help="Formula list: one LaTeX formula per line (split on \\n only).")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder (processed im2latex layout).")],
    split: Annotated[str, typer.Option(help="Split name for OUT/<split>_filter.lst.")] = "train",
    dpi: Annotated[
        Optional[int],
        typer.Option(
            help=f"Render resolution before the {RenderConfig.downsample}x downsampling [default: {RenderConfig.dpi}]."
        ),
    ] = None,
    downsample: Annotated[
        Optional[int],
        typer.Option(help=f"Integer shrink after cropping and padding [default: {RenderConfig.downsample}]."),
    ] = None,
    font: Annotated[
        Optional[str],
        typer.Option(
            help=f"Font family: {', '.join(FONTS)} (all but cm need TeX font packages) [default: {RenderConfig.font}]."
        ),
    ] = None,
    rasterizer: Annotated[
        Optional[str],
        typer.Option(
            help=f"How formulas become pixels: {', '.join(RASTERIZERS)} (dvipng draws latex's DVI; gs and "
            "pdftoppm draw pdflatex's PDF, with bolder strokes; katex draws them as a web page does, in "
            f"headless Chromium) [default: {RenderConfig.rasterizer}]."
        ),
    ] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Parallel latex processes (0 = all cores) [default: 0].")] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help=f"Formulas per latex run [default: {RenderConfig.batch_size}].")
    ] = None,
    packed: Annotated[
        Optional[bool],
        typer.Option(
            "--packed/--no-packed",
            help="Also write OUT/packed, the compact form the trainer reads fastest [default: no-packed].",
        ),
    ] = None,
    names_file: Annotated[
        Optional[Path],
        typer.Option("--names", help="File of image names, one per formula line (default: a hash of the formula)."),
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option(help=f"Seed of the augmentation draws [default: {RenderConfig.seed}].")
    ] = None,
    dpi_jitter: Annotated[
        Optional[float], typer.Option(help="Augment: scale each image by a factor in [1-j, 1+j] [default: off].")
    ] = None,
    extra_pad: Annotated[
        Optional[int], typer.Option(help="Augment: up to this many extra white pixels per side [default: off].")
    ] = None,
    blur: Annotated[
        Optional[float], typer.Option(help="Augment: Gaussian blur, sigma up to this [default: off].")
    ] = None,
    noise: Annotated[
        Optional[float], typer.Option(help="Augment: pixel noise, std up to this (grey levels) [default: off].")
    ] = None,
    jpeg_quality: Annotated[
        Optional[int], typer.Option(help="Augment: JPEG round trip at quality >= this (0 = off) [default: off].")
    ] = None,
    gamma: Annotated[
        Optional[float],
        typer.Option(help="Augment: raise the anti-aliased ink to a power in [e^-g, e^g] [default: off]."),
    ] = None,
    stroke: Annotated[
        Optional[float],
        typer.Option(
            help="Augment: thicken strokes by up to this many px per side at render resolution, or thin them "
            "by up to half that [default: off]."
        ),
    ] = None,
    colour: Annotated[
        Optional[float],
        typer.Option(
            help="Augment: this fraction of images in colour or dark mode, on plain or shaded backgrounds, read "
            "back as predict reads a user's image [default: off]."
        ),
    ] = None,
    rescale: Annotated[
        Optional[bool],
        typer.Option(
            "--rescale/--no-rescale",
            help="Bring each image to the model's glyph size as predict does (for renders at other dpi than "
            "the default) [default: no-rescale].",
        ),
    ] = None,
    handwritten: Annotated[
        Optional[Path],
        typer.Option(
            "--handwritten",
            help="Draw without TeX, in handwritten symbol shapes cut from this CROHME folder's training set (or "
            "a glyph bank saved as .npz), into CROHME's layout (OUT/groundtruth_train.tsv, OUT/train/hw/): "
            "data for the handwritten model. Formulas with symbols CROHME lacks are skipped and reported.",
        ),
    ] = None,
    retry_failed: Annotated[
        Optional[bool],
        typer.Option(
            "--retry-failed",
            help="On a rerun, give TeX the formulas it rejected last time again (e.g. after installing a package).",
        ),
    ] = None,
) -> None:
    """Render a formula list to images with LaTeX, as im2latex-100k's processed images look.

    Many formulas go through one `latex` run, all cores are used, images already in OUT_DIR are
    kept (a rerun resumes, and does not retry formulas that failed to compile unless
    --retry-failed), and a formula that does not compile is skipped and listed in
    OUT/render_report.json. Formulas that read or write files or run commands are refused.
    Needs Debian's texlive-latex-base, preview-latex-style and dvipng.

    **Examples**

      img2tex render formulas.lst data/train --split train --packed

      img2tex render test.lst data/test-jpeg --split test --jpeg-quality 60

      img2tex render train.lst data/train-gs --rasterizer gs --stroke 1 --gamma 0.5 --colour 0.2

      img2tex render train.lst data/train-screen --dpi 90 --downsample 1 --rescale

      img2tex render train.lst data/train-web --rasterizer katex (KaTeX in headless Chromium)

      img2tex render train.lst data/hw --handwritten crohme (CROHME writers' glyphs, no TeX)
    """
    from img2tex.fileio import read_lines
    from img2tex.rendering.renderer import render_formulas

    lines = read_lines(formulas)
    if not lines:
        raise fail(f"{formulas}: no formulas")
    names = read_lines(names_file) if names_file else None
    # The TeX look as set (RenderConfig's field names): --handwritten draws without TeX and takes none of it.
    look = given(
        dpi=dpi,
        font=font,
        jobs=jobs,
        batch_size=batch_size,
        write_packed=packed,
        dpi_jitter=dpi_jitter,
        extra_pad=extra_pad,
        blur=blur,
        noise=noise,
        jpeg_quality=jpeg_quality,
        rasterizer=rasterizer,
        gamma=gamma,
        stroke=stroke,
        colour=colour,
        rescale=rescale,
        downsample=downsample,
        retry_failed=retry_failed,
    )
    if handwritten is not None:
        if look:
            option = next(iter(look)).replace("write_packed", "packed").replace("_", "-")
            raise fail(f"--handwritten draws without TeX: drop --{option}", EXIT_USAGE)
        _render_handwritten(lines, out_dir, handwritten, seed or 0, names)
        return
    cfg = RenderConfig(**look, **given(seed=seed))
    cfg.validate()  # bad settings: one line, before any progress bar
    with progress_bar("rendering", len(lines), console) as advance:
        report = render_formulas(lines, out_dir, cfg, names=names, split=split, progress=advance)
    console.print(
        f"{report.ok} of {report.total} formulas rendered ({report.skipped_existing} already there), "
        f"{len(report.failed)} failed, {report.seconds:.1f} s; report: {out_dir / 'render_report.json'}"
    )
    for failure in report.failed[:5]:
        console.print(f"  failed #{failure['index']}: {failure['reason']}", highlight=False)
    typer.echo(json.dumps({k: v for k, v in report.to_dict().items() if k != "failed"}))
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _render_handwritten(lines: list[str], out_dir: Path, glyphs: Path, seed: int, names: list[str] | None) -> None:
    from img2tex.errors import DatasetError, FormulaError
    from img2tex.rendering.glyphs import GlyphBank
    from img2tex.rendering.handwriting import write_handwritten

    try:
        import scipy.ndimage  # noqa: F401
    except ImportError:
        raise fail("--handwritten needs scipy: pip install 'img2tex[train]'") from None

    try:
        bank = GlyphBank.load(glyphs) if glyphs.suffix == ".npz" else GlyphBank.from_crohme(glyphs)
    except DatasetError as exc:
        raise fail(str(exc)) from None
    if not len(bank):
        raise fail(f"{glyphs}: no glyphs could be cut from it")
    try:
        with progress_bar("drawing", len(lines), console) as advance:
            report = write_handwritten(lines, out_dir, bank, seed=seed, names=names, progress=advance)
    except FormulaError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    console.print(
        f"{report.ok} of {report.total} formulas drawn by {len(bank.writers)} writers ({report.skipped_existing} "
        f"already there), {len(report.failed)} not drawable, {report.seconds:.1f} s; report: "
        f"{out_dir / 'render_report.json'}"
    )
    typer.echo(json.dumps({k: v for k, v in report.to_dict().items() if k != "failed"}))
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)
