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

from rich.markup import escape

from img2tex.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, app, console
from img2tex.errors import Img2TexError

__all__ = ["app", "main"]

#: Command modules, in the order `--help` lists their commands.
COMMANDS = ("render", "data", "train", "evaluate", "predict", "serve", "export")
for _module in COMMANDS:
    importlib.import_module(f"img2tex.cli.{_module}")


def main() -> None:
    """Console-script entry point: one-line errors instead of tracebacks."""
    try:
        app()
    except Img2TexError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:  # a disk that fills or a folder that vanishes mid-run: one line, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        console.print(
            f"[red]error:[/red] {escape((exc.strerror or str(exc)) + where)}", highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_ERROR)
