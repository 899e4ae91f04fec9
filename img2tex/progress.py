"""Progress bars on stderr, so stdout stays clean for results in shell pipelines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

#: Called with the number of items just finished.
Advance = Callable[[int], None]


def stderr_console() -> Console:
    """The console for messages and progress; results never go here."""
    from rich.console import Console

    return Console(stderr=True)


class LazyConsole:
    """`stderr_console()`, made on first use. Importing rich costs about 50 ms of every
    command's start-up, and a command that succeeds quietly (`img2tex predict one.png`) never
    prints to stderr."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            self._console = stderr_console()
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def _real(console: Console | LazyConsole | None) -> Console:
    if isinstance(console, LazyConsole):
        return console.get()
    return console if console is not None else stderr_console()


@contextmanager
def progress_bar(
    description: str, total: int | None, console: Console | LazyConsole | None = None, enabled: bool = True
) -> Iterator[Advance]:
    """Show a bar for `total` items and yield the function that advances it (`enabled=False`:
    no bar, the function does nothing).

    Rich hides the bar itself when stderr is not a terminal, so logs stay readable in CI.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_real(console), transient=False, disable=not enabled) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


class TrainingBar:
    """The training loop's bar: steps of the current epoch, running loss and throughput."""

    def __init__(self, bar: Progress, steps_per_epoch: int) -> None:
        self._bar = bar
        # Shown as text: "-" until the first step, then the running mean since the last log line.
        self._task = bar.add_task("train", total=steps_per_epoch, epoch="", loss="-", sps="-", tps="-")

    def start_epoch(self, label: str, completed: int) -> None:
        self._bar.update(self._task, completed=completed, epoch=label)

    def advance(self) -> None:
        self._bar.update(self._task, advance=1)

    def show(self, loss: float, samples_per_s: float, tokens_per_s: float) -> None:
        self._bar.update(self._task, loss=f"{loss:.3f}", sps=f"{samples_per_s:.0f}", tps=f"{tokens_per_s:.0f}")

    def print(self, message: str) -> None:
        self._bar.console.print(message, highlight=False)


@contextmanager
def training_bar(steps_per_epoch: int, enabled: bool = True) -> Iterator[TrainingBar]:
    """A `TrainingBar` on stderr for the duration of the block."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[sps]} samples/s  {task.fields[tps]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr_console(), disable=not enabled) as bar:
        yield TrainingBar(bar, steps_per_epoch)
