"""Tests for img2tex.data.dataset: what the network reads from a split."""

from __future__ import annotations

import numpy as np
import pytest

from img2tex.data.dataset import SplitDataset
from img2tex.errors import ImageError
from img2tex.images import ImageConfig
from img2tex.vocab import build_vocab


def test_an_unreadable_image_is_replaced_by_the_next_item(fake_split: type) -> None:
    class WithBlanks(fake_split):  # type: ignore[misc, valid-type]
        def image(self, i: int) -> np.ndarray:
            a = super().image(i)
            return np.full_like(a, 250) if i in (3, 4) else a  # no ink: preprocess refuses it

    src = WithBlanks(8)
    vocab = build_vocab(src.formula(i).split() for i in range(len(src)))
    with pytest.raises(ImageError):  # scoring: a bad image is an error, not silently another one
        SplitDataset(src, vocab, ImageConfig())[3]
    ds = SplitDataset(src, vocab, ImageConfig(), replace_unreadable=True)
    k, image, ids = ds[3]
    assert k == 5 and ids == vocab.encode(src.formula(5).split())  # image and label stay together
    assert ds[2][0] == 2 and image.min() == 0

    class AllBlank(fake_split):  # type: ignore[misc, valid-type]
        def image(self, i: int) -> np.ndarray:
            return np.full_like(super().image(i), 250)

    with pytest.raises(ImageError, match="no readable image"):
        SplitDataset(AllBlank(3), vocab, ImageConfig(), replace_unreadable=True)[0]


def test_pen_augmentation_varies_by_epoch_and_is_replayed(fake_split: type) -> None:
    src = fake_split(6)
    vocab = build_vocab(src.formula(i).split() for i in range(len(src)))

    def make() -> SplitDataset:
        return SplitDataset(src, vocab, ImageConfig(), scale=1.0, augment="pen", augment_prob=1.0, seed=3)

    ds = make()
    assert ds.varies
    ds.set_epoch(0)
    first = [ds[k][1] for k in range(len(ds))]
    assert [a.shape for a in first] == ds.epoch_shapes(0)  # batches group the sizes they will have
    ds.set_epoch(1)
    second = [ds[k][1] for k in range(len(ds))]
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first, second))
    again = make()  # a resumed run draws the same images
    again.set_epoch(1)
    assert all(np.array_equal(a, again[k][1]) for k, a in enumerate(second))
    plain = SplitDataset(src, vocab, ImageConfig(), scale=1.0)
    assert not plain.varies and not np.array_equal(plain[0][1], first[0])
    with pytest.raises(ValueError, match="augment"):
        SplitDataset(src, vocab, ImageConfig(), augment="ink")


def _handlers(_: int) -> tuple[object, object]:
    import signal

    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_forked_workers_do_not_run_the_parents_signal_handlers() -> None:
    """The trainer's stop handler must not run in a pool worker (one hung a run there)."""
    import multiprocessing
    import signal

    from img2tex.data.dataset import worker_signals

    def stop(signum, frame):  # type: ignore[no-untyped-def]  # the trainer's kind of handler
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    try:
        with multiprocessing.get_context("fork").Pool(1, initializer=worker_signals) as pool:
            term, interrupt = pool.map(_handlers, [0])[0]
    finally:
        signal.signal(signal.SIGTERM, old)
    assert term == signal.SIG_DFL and interrupt == signal.SIG_IGN
