"""What every command shares: the Typer app, stderr console, exit codes and option helpers."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from img2tex import __version__
from img2tex.cli.output import (  # noqa: F401  (the commands import them from here)
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_USAGE,
    console,
    fail,
    print_error,
    writable_folder,
)

BEAM_HELP = "Beam width; 1 = greedy (fastest), 5 = a little more accurate."
MODEL_HELP = "Model folder, or a shipped model's name: default (printed formulas) or handwritten [default: default]."
ENGINE_HELP = (
    "onnx (ONNX Runtime, CPU, no torch), torch (needs img2tex[train]; CPU or CUDA) or auto "
    "(onnx on the CPU when the model folder has an export)."
)
#: The --device and --engine options of the commands that decode.
DeviceOption = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
EngineOption = Annotated[str, typer.Option(help=ENGINE_HELP)]
#: The default of every command's --rescale/--no-rescale (`data.split.needs_rescale`).
RESCALE_BY_LAYOUT = (
    "[default: by layout: im2latex-100k's full pages and folders of your own images are rescaled, "
    "renders and packed data are not]."
)

app = typer.Typer(
    name="img2tex",
    help="Read an image of a mathematical formula and write the LaTeX that typesets it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"img2tex {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Read an image of a mathematical formula and write the LaTeX that typesets it.

    **Examples**

      img2tex predict formula.png

      img2tex predict scans/ --out tex/          (one .tex per image)

      find . -name '*.png' | img2tex predict - --json
    """


def given(**options: Any) -> dict[str, Any]:
    """The options a user set: every option defaults to None ("not given"), so a config's own
    dataclass defaults stay the one source of defaults."""
    return {k: v for k, v in options.items() if v is not None}
