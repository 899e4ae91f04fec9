"""Progress bars on stderr, so stdout stays clean for results in shell pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Called with the number of items just finished.
Advance = Callable[[int], None]


def stderr_console() -> Console:
    """The console for messages and progress; results never go here."""
    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None, console: Console | None = None) -> Iterator[Advance]:
    """Show a bar for `total` items and yield the function that advances it.

    Rich hides the bar itself when stderr is not a terminal, so logs stay readable in CI.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console or stderr_console(), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
