"""What every command prints and how it ends, without Typer: the stderr console, one-line
errors and the exit codes.

Kept apart from `common` (the Typer app and option types) so that `img2tex predict PATH...`
can run without importing Typer (`cli.read`), about a tenth of its start-up."""

from __future__ import annotations

from pathlib import Path

from img2tex.progress import LazyConsole

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130

console = LazyConsole()  # rich is imported when something is printed


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, in red where it is a terminal; MESSAGE printed as it is."""
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_ERROR) -> SystemExit:
    """Print `message` as an error and return the exit to raise (`raise fail(...)`)."""
    print_error(message)
    return SystemExit(code)


def writable_folder(folder: Path, option: str) -> None:
    """Make `folder` (and its parents) or fail in one line before any work is done."""
    import os

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{option} {folder}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise fail(f"{option} {folder}: folder is not writable")
