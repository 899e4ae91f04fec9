"""Decoding a whole split: evaluation, and validation during training."""

from __future__ import annotations

from collections.abc import Callable

from img2tex.data.dataset import SplitDataset
from img2tex.decoding.engine import Engine
from img2tex.decoding.hypotheses import DecodeConfig, Hypothesis
from img2tex.decoding.search import decode
from img2tex.errors import ImageError
from img2tex.images import batch_arrays, bucket_shape


def decode_split(
    engine: Engine,
    ds: SplitDataset,
    dcfg: DecodeConfig,
    batch_size: int = 32,
    advance: Callable[[int], None] | None = None,
) -> list[Hypothesis]:
    """One hypothesis per dataset item, in dataset order. Items are decoded in batches of similar
    size (sorted by bucket shape) so little time goes into padding. An image that cannot be read
    (`ImageError`: blank, say) gets an empty, unfinished hypothesis and scores as a wrong answer,
    as `img2tex predict` fails that one image and reads the rest."""
    shapes = ds.shapes()
    order = sorted(range(len(ds)), key=lambda k: bucket_shape(*shapes[k], ds.image_cfg) + (k,))
    out: list[Hypothesis] = [Hypothesis([], 0.0, False)] * len(ds)
    for s in range(0, len(order), batch_size):
        chunk = order[s : s + batch_size]
        ks, arrays = [], []
        for k in chunk:
            try:
                arrays.append(ds[k][1])
            except ImageError:
                continue
            ks.append(k)
        if ks:
            images, mask = batch_arrays(arrays, ds.image_cfg.bucket)
            for k, h in zip(ks, decode(engine, images, mask, dcfg, ds.vocab.bos_id, ds.vocab.eos_id)):
                out[k] = h
        if advance is not None:
            advance(len(chunk))
    return out
