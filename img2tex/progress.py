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
def progress_bar(
    description: str, total: int | None, console: Console | None = None, enabled: bool = True
) -> Iterator[Advance]:
    """Show a bar for `total` items and yield the function that advances it (`enabled=False`:
    no bar, the function does nothing).

    Rich hides the bar itself when stderr is not a terminal, so logs stay readable in CI.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console or stderr_console(), transient=False, disable=not enabled) as bar:
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
