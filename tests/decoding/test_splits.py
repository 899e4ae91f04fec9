"""Tests for img2tex.decoding.splits: decoding a whole split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from img2tex.data.dataset import SplitDataset
from img2tex.decoding.engine import load_engine
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.splits import decode_split
from img2tex.images import ImageConfig
from img2tex.network.folder import load_config, load_vocab


def test_an_unreadable_image_scores_as_empty_and_the_rest_decode(model_dir: Path, fake_split: type) -> None:
    class OneBlank(fake_split):  # type: ignore[misc, valid-type]
        def image(self, i: int) -> np.ndarray:
            a = super().image(i)
            return np.full_like(a, 250) if i == 2 else a

    mcfg, _, _ = load_config(model_dir)
    ds = SplitDataset(OneBlank(6), load_vocab(model_dir, mcfg), ImageConfig())
    engine, _ = load_engine(model_dir, "cpu", "torch")
    hyps = decode_split(engine, ds, DecodeConfig(beam=1, max_len=4), batch_size=4)
    assert len(hyps) == 6
    assert hyps[2].tokens == [] and not hyps[2].finished
    assert all(len(h.tokens) > 0 or h.finished for k, h in enumerate(hyps) if k != 2)
