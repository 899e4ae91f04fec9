"""The `img2tex` command line: parse arguments, call the library, report.

Results go to stdout, messages and progress to stderr. Exit codes: 0 success, 1 an error
(reported as one line), 2 bad usage, 3 some inputs failed while the rest were done,
130 interrupted. Heavy modules (torch) are imported inside the commands that need them, so
`--help` and light commands start fast.

One module per command (or group of commands), each registering on the one Typer `app` of
`common`; importing them here, in this order, is what puts them in `--help`.
"""

from __future__ import annotations

import importlib
import sys

from img2tex.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, app, console, print_error
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


def main() -> None:
    """Console-script entry point: one-line errors instead of tracebacks."""
    try:
        register()
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
