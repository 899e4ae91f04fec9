"""A `Split` as the network reads it: preprocessed images and token ids, filtered by length.

Torch-free, so that evaluation on ONNX Runtime needs no torch; training hands it to torch's
DataLoader (any object with `__len__` and `__getitem__` is a map-style dataset there).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys

import numpy as np

from img2tex.data.augment import AUGMENTS, pen_augment
from img2tex.data.split import Split, needs_rescale
from img2tex.errors import ImageError
from img2tex.images import ImageConfig, preprocess, resize_by
from img2tex.vocab import Vocab

#: `SplitDataset`'s scale that lets each item's layout decide whether it is rescaled.
AUTO = "auto"


class SplitDataset:
    """Items (index, preprocessed image, token ids) of a `Split`: a map-style dataset that torch's
    DataLoader reads directly, and that evaluation reads without torch.

    `scale`: the rescale factor handed to images.preprocess; 1.0 for training renders that are
    already at the reference glyph size (fast, exact), None to estimate it per image, and
    "auto" (the default) to let the split's layout decide item by item (`split.needs_rescale`:
    im2latex-100k's full pages and a user's own images are estimated, renders are read as stored).

    `scale_jitter` (> 0) with probability `jitter_prob` resizes an image by a factor drawn
    log-uniformly from [1/(1+j), 1+j] and then preprocesses it with the glyph-size estimate, as
    `img2tex predict` does with a user's image. Without it the model only ever sees its own
    scale, and images the estimate scales back (blurred) or misjudges read badly (measured on the
    test split rendered at 0.7x: BLEU 44 against 74 at 1x). Draws are seeded by (seed, epoch,
    item), so a resumed run sees the same images; `set_epoch` moves to the next draw.

    `augment="pen"` warps a share `augment_prob` of the images as handwriting varies
    (`data.augment.pen_augment`: slant, tilt, stretch, stroke weight, smooth wobble) before they
    are preprocessed with the glyph-size estimate; drawn per (seed, epoch, item) like the jitter.
    """

    def __init__(
        self,
        split: Split,
        vocab: Vocab,
        image_cfg: ImageConfig,
        max_tokens: int = 150,
        scale: float | str | None = AUTO,
        limit: int | None = None,
        scale_jitter: float = 0.0,
        jitter_prob: float = 0.5,
        seed: int = 0,
        replace_unreadable: bool = False,
        prepare_processes: int = 1,
        augment: str = "none",
        augment_prob: float = 0.8,
    ) -> None:
        if isinstance(scale, str) and scale != AUTO:
            raise ValueError(f"scale must be a number, None or {AUTO!r}, not {scale!r}")
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, not {augment!r}")
        self.augment, self.augment_prob = augment, augment_prob
        self.split, self.vocab, self.image_cfg, self.scale = split, vocab, image_cfg, scale
        #: processes that `prepare` spreads its work over (forked; 1 = in this process)
        self.prepare_processes = prepare_processes
        self.scale_jitter, self.jitter_prob, self.seed, self.epoch = scale_jitter, jitter_prob, seed, 0
        self.replace_unreadable = replace_unreadable
        n = len(split) if limit is None else min(limit, len(split))
        self.ids: list[list[int]] = []
        self.indices: list[int] = []
        for i in range(n):
            toks = split.formula(i).split()
            if 0 < len(toks) <= max_tokens:
                self.indices.append(i)
                self.ids.append(vocab.encode(toks))
        self._shapes: list[tuple[int, int]] | None = None
        #: (epoch, {item: preprocessed array}) of the items jittered or augmented in that epoch (`prepare`)
        self._jittered: tuple[int, dict[int, np.ndarray]] = (-1, {})

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[int, np.ndarray, list[int]]:
        """Item k. With `replace_unreadable` (training), an image that cannot be read (blank after
        preprocessing, say) is replaced by the next readable item, label and all, so one bad image
        in 100k does not stop a run; otherwise (scoring) its ImageError is raised."""
        if not self.replace_unreadable:
            return self._item(k)
        for step in range(min(len(self), 100)):
            j = (k + step) % len(self)
            try:
                return self._item(j)
            except ImageError:
                continue
        raise ImageError(f"{self.split.name(self.indices[k])}: no readable image near it")

    def _item(self, k: int) -> tuple[int, np.ndarray, list[int]]:
        epoch, ready = self._jittered
        if epoch == self.epoch and k in ready:
            return k, ready[k], self.ids[k]
        return k, self._load(k, self.epoch), self.ids[k]

    @property
    def varies(self) -> bool:
        """Whether an item's image changes from epoch to epoch (scale jitter or augmentation)."""
        return self.scale_jitter > 0 or self.augment != "none"

    def _load(self, k: int, epoch: int) -> np.ndarray:
        """Item k's preprocessed image as `epoch` shows it (augmented, resized, or as stored)."""
        a, scale = self.split.image(self.indices[k]), self.item_scale(k)
        if self.augment == "pen":
            rng = np.random.default_rng([self.seed, epoch, k, 1])
            if rng.random() < self.augment_prob:
                a, scale = pen_augment(a, rng), None
        factor = self.jitter_factor(k, epoch)
        if factor is not None:
            a, scale = resize_by(a, factor), None
        return preprocess(a, self.image_cfg, scale=scale)

    def item_scale(self, k: int) -> float | None:
        """The scale item k is preprocessed with: the dataset's, or by the layout under "auto"."""
        if self.scale == AUTO:
            return None if needs_rescale(self.split, self.indices[k]) else 1.0
        return self.scale  # type: ignore[return-value]

    def jitter_factor(self, k: int, epoch: int) -> float | None:
        """The resize factor item k is shown at in `epoch`, or None when it is shown as stored."""
        if self.scale_jitter <= 0:
            return None
        rng = np.random.default_rng([self.seed, epoch, k])
        if rng.random() >= self.jitter_prob:
            return None
        span = math.log1p(self.scale_jitter)
        return math.exp(rng.uniform(-span, span))

    def set_epoch(self, epoch: int) -> None:
        """Move to `epoch`'s jitter draw (and prepare its jittered images)."""
        self.epoch = epoch
        self.prepare(epoch)

    def shapes(self) -> list[tuple[int, int]]:
        """Approximate model-input sizes from the split's stored sizes (no image decoding),
        cached; good enough to group batches, exact for renders already at the reference look."""
        if self._shapes is None:
            cfg = self.image_cfg
            out = []
            for i in self.indices:
                h, w = self.split.shape(i)
                fit = min(1.0, (cfg.max_height + 2 * cfg.pad) / h, (cfg.max_width + 2 * cfg.pad) / w)
                out.append((max(1, round(h * fit)), max(1, round(w * fit))))
            self._shapes = out
        return self._shapes

    def epoch_shapes(self, epoch: int) -> list[tuple[int, int]]:
        """Model-input sizes of the items as `epoch` shows them: `shapes()`, with each
        scale-jittered item at the size it comes out at (see `prepare`)."""
        shapes = self.shapes()
        if not self.varies:
            return shapes
        self.prepare(epoch)
        out = list(shapes)
        for k, a in self._jittered[1].items():
            out[k] = a.shape
        return out

    def prepare(self, epoch: int) -> None:
        """Preprocess the items that `epoch` scale-jitters (every item, with an augmentation),
        ahead of the epoch, and keep them.

        Why: the glyph-size rescale decides a jittered image's final size, and it is not
        predictable from the stored size (measured on the training mix: batched by stored size,
        jittered batches held 1.9x (clean renders) to 5.4x (rough renders) the real pixels, and
        training ran at 40 images/s against 95 without jitter). Knowing the sizes, batches group
        images of the size they will have (48 -> 108 images/s: benchmarks/jitter_batches.py).
        The arrays are kept (about half the data's pixels) so that loading does not preprocess
        them twice; DataLoader workers forked afterwards share them."""
        if not self.varies or self._jittered[0] == epoch:
            return
        self._jittered = (-1, {})  # the last epoch's arrays go first
        if self.augment != "none":
            todo = [(k, epoch) for k in range(len(self))]
        else:
            todo = [(k, epoch) for k in range(len(self)) if self.jitter_factor(k, epoch) is not None]
        chunks = [todo[i : i + _PREPARE_CHUNK] for i in range(0, len(todo), _PREPARE_CHUNK)]
        done: dict[int, np.ndarray] = {}
        processes = min(self.prepare_processes, len(chunks))
        if processes > 1 and sys.platform.startswith("linux"):
            # Forked (Linux only: forking is unsafe on macOS), so the children read this dataset
            # and its open split without copying them; arrays come back through the pool's pipes.
            # 1.8x faster on 2 cores; a GPU machine's 16 cores make it a few seconds an epoch.
            global _PREPARING
            _PREPARING = self
            try:
                with multiprocessing.get_context("fork").Pool(processes, initializer=worker_signals) as pool:
                    for part in pool.imap_unordered(_prepare_chunk, chunks):
                        done.update(part)
            finally:
                _PREPARING = None
        else:
            for c in chunks:
                done.update(self._prepare_items(c))
        self._jittered = (epoch, done)

    def _prepare_items(self, items: list[tuple[int, int]]) -> dict[int, np.ndarray]:
        """The preprocessed images of `items`, (item, epoch) pairs (unreadable ones left out: they
        are read, and replaced or raised, when loaded, as without preparation)."""
        out: dict[int, np.ndarray] = {}
        for k, epoch in items:
            try:
                out[k] = self._load(k, epoch)
            except ImageError:
                continue
        return out

    def name(self, k: int) -> str:
        return self.split.name(self.indices[k])

    def formula(self, k: int) -> str:
        return self.split.formula(self.indices[k])


#: items per task of a parallel `SplitDataset.prepare` (large enough that the pipe is not the cost)
_PREPARE_CHUNK = 256
#: the dataset a forked preparation pool works on (set in the parent before forking)
_PREPARING: SplitDataset | None = None


def _prepare_chunk(items: list[tuple[int, int]]) -> dict[int, np.ndarray]:
    assert _PREPARING is not None, "only called in a pool forked by SplitDataset.prepare"
    return _PREPARING._prepare_items(items)


def worker_signals() -> None:
    """In a forked worker: default signal handling, not the parent's.

    Why: the trainer's SIGINT/SIGTERM handler (checkpoint and stop) is inherited by forked
    workers. When the pool ends it sends its workers SIGTERM; the inherited handler then ran in
    each worker, printing through a console whose lock another thread of the parent held at the
    fork, and a worker hung there: on 2026-12-07 a CROHME run stopped for 16 minutes at the start
    of an epoch. Workers now die on SIGTERM, and leave Ctrl-C to the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def default_prepare_processes(world: int = 1) -> int:
    """Processes for preparing an epoch's jittered images: this machine's cores, shared among the
    training processes on it (nothing else runs while an epoch is prepared)."""
    return max(1, (os.cpu_count() or 1) // max(1, world))
