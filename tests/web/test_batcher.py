"""The server's batcher: concurrent items decoded together, in order, a bounded queue, errors and
cancellations handed back to the right requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from img2tex.web.batcher import Batcher, Overloaded, describe


def test_items_that_arrive_together_are_decoded_together_and_in_order() -> None:
    sizes: list[int] = []

    def decode(items):  # type: ignore[no-untyped-def]
        sizes.append(len(items))
        time.sleep(0.02)  # a decode takes a while: the next requests gather meanwhile
        return [x * 10 for x in items]

    b = Batcher(decode, max_batch=8, max_wait_s=0.01)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda x: b.submit(x).result(timeout=10), range(32)))
    b.close()
    assert results == [x * 10 for x in range(32)]
    assert sum(sizes) == 32 and max(sizes) <= 8
    assert len(sizes) <= 12  # gathered, not one at a time
    assert describe(b)["images"] == 32


def test_a_full_queue_refuses_at_once() -> None:
    release = threading.Event()

    def decode(items):  # type: ignore[no-untyped-def]
        release.wait(10)
        return items

    b = Batcher(decode, max_batch=1, max_wait_s=0.0, max_queue=2)
    first = b.submit(0)
    deadline = time.monotonic() + 5
    while b.waiting and time.monotonic() < deadline:  # the thread takes the first and blocks in decode
        time.sleep(0.01)
    queued = [b.submit(1), b.submit(2)]
    with pytest.raises(Overloaded):
        b.submit(3)
    release.set()
    assert [f.result(timeout=10) for f in (first, *queued)] == [0, 1, 2]
    b.close()


def test_an_error_reaches_every_request_of_its_batch_and_the_next_batch_is_fine() -> None:
    def decode(items):  # type: ignore[no-untyped-def]
        if "bad" in items:
            raise RuntimeError("engine failed")
        return items

    b = Batcher(decode, max_batch=4, max_wait_s=0.05)
    futures = [b.submit("bad"), b.submit("ok")]
    for f in futures:
        with pytest.raises(RuntimeError, match="engine failed"):
            f.result(timeout=10)
    assert b.submit("fine").result(timeout=10) == "fine"
    b.close()


def test_a_cancelled_request_is_not_decoded() -> None:
    seen: list[str] = []
    release = threading.Event()

    def decode(items):  # type: ignore[no-untyped-def]
        release.wait(10)
        seen.extend(items)
        return items

    b = Batcher(decode, max_batch=1, max_wait_s=0.0)
    busy = b.submit("first")
    deadline = time.monotonic() + 5
    while b.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    gone = b.submit("gave up")
    assert gone.cancel()
    release.set()
    assert busy.result(timeout=10) == "first"
    assert b.submit("last").result(timeout=10) == "last"
    b.close()
    assert seen == ["first", "last"]


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        Batcher(lambda items: items, max_batch=0)


def test_a_batch_waits_only_for_requests_still_coming() -> None:
    sizes: list[int] = []

    def decode(items):  # type: ignore[no-untyped-def]
        sizes.append(len(items))
        return items

    b = Batcher(decode, max_batch=8, max_wait_s=0.5)
    t = time.monotonic()
    assert b.submit(1).result(timeout=5) == 1
    assert time.monotonic() - t < 0.25  # alone: decoded at once, not after max_wait_s
    started = threading.Event()
    late: list = []

    def being_read() -> None:
        with b.incoming():
            started.set()
            time.sleep(0.1)  # still being read when the other is submitted
            late.append(b.submit(3))

    reader = threading.Thread(target=being_read)
    reader.start()
    started.wait(5)
    assert b.submit(2).result(timeout=5) == 2
    reader.join()
    assert late[0].result(timeout=5) == 3
    assert sizes == [1, 2]  # the second batch waited for the image still being read
    b.close()
