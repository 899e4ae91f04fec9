"""Decoding a whole split: evaluation, and validation during training."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from img2tex.data.dataset import SplitDataset
from img2tex.decoding.engine import Engine
from img2tex.decoding.filters import filter_for
from img2tex.decoding.hypotheses import DecodeConfig, Hypothesis
from img2tex.decoding.search import decode, decode_nbest
from img2tex.errors import ImageError
from img2tex.images import batch_arrays, bucket_shape

#: Batches whose images are preprocessed, then sorted by size, together (bounded memory).
WINDOW_BATCHES = 16


def decode_split(
    engine: Engine,
    ds: SplitDataset,
    dcfg: DecodeConfig,
    batch_size: int = 32,
    advance: Callable[[int], None] | None = None,
    verifier: Any = None,
) -> list[Hypothesis]:
    """One hypothesis per dataset item, in dataset order. Items are decoded in batches of similar
    size so little time goes into padding: sorted by their stored size first, then, a window of
    `WINDOW_BATCHES` batches at a time, by the size preprocessing gave them (a rescaled full page's
    stored size says nothing of it). An image that cannot be read (`ImageError`: blank, say) gets
    an empty, unfinished hypothesis and scores as a wrong answer, as `img2tex predict` fails that
    one image and reads the rest. With a `verifier` (`decoding.verify.Verifier`), each image's
    answer is the candidate of the n best that it picks by picture."""
    shapes = ds.shapes()
    order = sorted(range(len(ds)), key=lambda k: bucket_shape(*shapes[k], ds.image_cfg) + (k,))
    out: list[Hypothesis] = [Hypothesis([], 0.0, False)] * len(ds)
    window = batch_size * WINDOW_BATCHES

    for w in range(0, len(order), window):
        keys = order[w : w + window]
        ready = []
        for k in keys:
            try:
                a = ds[k][1]
            except ImageError:
                continue
            ready.append((bucket_shape(*a.shape, ds.image_cfg), k, a))
        _decode_window(engine, ds, dcfg, batch_size, advance, out, ready, len(keys) - len(ready), verifier)
    return out


def _decode_window(
    engine: Engine,
    ds: SplitDataset,
    dcfg: DecodeConfig,
    batch_size: int,
    advance: Callable[[int], None] | None,
    out: list[Hypothesis],
    ready: list[tuple[tuple[int, int], int, np.ndarray]],
    unreadable: int,
    verifier: Any = None,
) -> None:
    """Decode one window's preprocessed images, sorted by size, into `out`."""
    ready.sort(key=lambda item: item[:2])
    if advance is not None and unreadable:
        advance(unreadable)
    for s in range(0, len(ready), batch_size):
        chunk = ready[s : s + batch_size]
        images, mask = batch_arrays([a for _, _, a in chunk], ds.image_cfg.bucket)
        filt = filter_for(ds.vocab, dcfg)
        if verifier is None:
            hyps = decode(engine, images, mask, dcfg, ds.vocab.bos_id, ds.vocab.eos_id, filt)
        else:  # the candidate whose picture matches the image
            wide = dcfg if dcfg.beam >= verifier.cfg.n_best else dataclasses.replace(dcfg, beam=verifier.cfg.n_best)
            found = decode_nbest(engine, images, mask, wide, ds.vocab.bos_id, ds.vocab.eos_id, filt)
            texts = [[(ds.vocab.text(h.tokens), h.score) for h in hyps] for hyps in found]
            arrays = [a for _, _, a in chunk]
            hyps = [hs[i] for hs, i in zip(found, verifier.pick(arrays, texts))]
        for (_, k, _), h in zip(chunk, hyps):
            out[k] = h
        if advance is not None:
            advance(len(chunk))
