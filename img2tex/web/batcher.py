"""Gathering concurrent requests into batches for one decoding thread.

Why: decoding one image at a time leaves most of a step's work per call as fixed overhead (an
ONNX Runtime call per token for one image costs about what it costs for eight), so under load the
server fell far behind what `img2tex predict` reaches on a folder. Requests now queue their
preprocessed images; one thread takes the first waiting image, gathers whatever else is waiting,
and decodes them together (at most `max_batch`). It waits for more, up to `max_wait_s`, only
while other requests are still being read and preprocessed (`incoming`): a lone request is
decoded at once, and a burst is not split by a wait too short for its images to be ready.

The queue is bounded: when `max_queue` images are waiting, `submit` refuses at once
(`Overloaded`), so the server answers 503 with Retry-After instead of letting every client's
latency grow without limit. A request that gives up (its time limit) cancels its future; an image
not yet taken is then skipped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


#: How often a gathering batch looks again whether requests are still coming, in seconds.
_POLL_S = 0.001


class Overloaded(Exception):
    """The queue is full: try again later."""


class Batcher(Generic[T, R]):
    """Decode items submitted from any thread in batches, on one thread of its own.

    `decode_batch` maps a list of items to a list of results of the same length, in order; an
    exception it raises goes to every request of that batch.
    """

    def __init__(
        self,
        decode_batch: Callable[[Sequence[T]], Sequence[R]],
        max_batch: int = 8,
        max_wait_s: float = 0.02,
        max_queue: int = 64,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch and max_queue must be at least 1, max_wait_s at least 0")
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self._decode = decode_batch
        self._queue: queue.Queue[tuple[T, Future[R]] | None] = queue.Queue(maxsize=max_queue)
        self.batches = 0  # batches decoded so far (for /health and tests)
        self.items = 0
        self._incoming = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="img2tex-batcher", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Items queued and not yet taken."""
        return self._queue.qsize()

    @contextlib.contextmanager
    def incoming(self) -> Iterator[None]:
        """Around a request's reading and preprocessing: while any is inside, a batch being
        gathered waits (up to `max_wait_s`) for its item."""
        with self._lock:
            self._incoming += 1
        try:
            yield
        finally:
            with self._lock:
                self._incoming -= 1

    def submit(self, item: T) -> Future[R]:
        """Queue `item`; its future gets the result. `Overloaded` when the queue is full."""
        fut: Future[R] = Future()
        try:
            self._queue.put_nowait((item, fut))
        except queue.Full:
            raise Overloaded(f"{self.max_queue} images are waiting") from None
        return fut

    def close(self) -> None:
        """Stop the thread once the items already queued are decoded."""
        self._queue.put(None)
        self._thread.join()

    def _gather(self, first: tuple[T, Future[R]]) -> tuple[list[tuple[T, Future[R]]], bool]:
        """The batch that starts with `first`, and whether the batcher was told to stop."""
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:  # what is already waiting joins at once; more only while requests are coming
                nxt = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0 or self._incoming == 0:
                    break
                try:
                    nxt = self._queue.get(timeout=min(left, _POLL_S))
                except queue.Empty:
                    continue
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self._decode([item for item, _ in live])
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting requests
                for _, fut in live:
                    fut.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(live)
            for (_, fut), res in zip(live, results):
                fut.set_result(res)


def describe(b: Batcher[Any, Any]) -> dict[str, int | float]:
    """The batcher's settings and counters, for /health."""
    return {
        "max_batch": b.max_batch,
        "max_wait_ms": round(b.max_wait_s * 1000, 3),
        "max_queue": b.max_queue,
        "waiting": b.waiting,
        "batches": b.batches,
        "images": b.items,
    }
