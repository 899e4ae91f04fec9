"""The `img2tex` command line: parse arguments, call the library, report.

Results go to stdout, messages and progress to stderr. Exit codes: 0 success, 1 an error
(reported as one line), 2 bad usage, 3 some inputs failed while the rest were done,
130 interrupted. Heavy modules (torch) are imported inside the commands that need them, so
`--help` and light commands start fast.

One module per command (or group of commands), each registering on the one Typer `app` of
`common`; importing them here, in this order, is what puts them in `--help`. The everyday
`img2tex predict PATH...` (paths only) skips Typer altogether (`plain_predict`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from img2tex.cli.output import EXIT_ERROR, EXIT_INTERRUPTED, console, print_error
from img2tex.errors import Img2TexError

__all__ = ["app", "main"]

#: Command -> the module that defines it; modules in the order `--help` lists their commands.
COMMANDS = {
    "render": "render",
    "vocab": "data",
    "corpus": "data",
    "pack": "data",
    "train": "train",
    "eval": "evaluate",
    "predict": "predict",
    "serve": "serve",
    "export": "export",
}


def register(argv: list[str] | None = None) -> None:
    """Import the command modules (each registers its commands on `app`): only the named
    command's when `argv` names one, so that `img2tex predict` does not import the renderer,
    the corpus builder or the trainer's settings (a third of its start-up); all of them for
    `--help` and anything else."""
    args = sys.argv[1:] if argv is None else argv
    first = next((a for a in args if not a.startswith("-")), None)
    modules = [COMMANDS[first]] if first in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"img2tex.cli.{module}")


def plain_predict(args: list[str]) -> bool:
    """Whether `args` is `predict` with paths only (no option, no '-'): the everyday
    `img2tex predict one.png`, which `read_images` serves without importing Typer."""
    return len(args) >= 2 and args[0] == "predict" and not any(a.startswith("-") for a in args[1:])


def main() -> None:
    """Console-script entry point: one-line errors instead of tracebacks."""
    try:
        args = sys.argv[1:]
        if plain_predict(args):
            from img2tex.cli.read import read_images

            read_images(args[1:])
        else:
            register()
            from img2tex.cli.common import app

            app()
    except Img2TexError as exc:
        print_error(str(exc))
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:  # a disk that fills or a folder that vanishes mid-run: one line, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        print_error((exc.strerror or str(exc)) + where)
        sys.exit(EXIT_ERROR)


def __getattr__(name: str) -> Any:
    """`img2tex.cli.app`, the Typer app with every command, made on first use."""
    if name == "app":
        register([])
        from img2tex.cli.common import app

        return app
    raise AttributeError(name)
