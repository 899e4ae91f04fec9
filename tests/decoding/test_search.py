"""Tests for img2tex.decoding.search (greedy and beam search over an engine), run with the torch
engine on tiny untrained models; engine parity is in test_engines.py."""

import numpy as np
import pytest
import torch

from img2tex.decoding.hypotheses import DecodeConfig, loops
from img2tex.decoding.search import beam_search, decode, greedy
from img2tex.decoding.torch_engine import TorchEngine

BOS, EOS = 1, 2


def batch(n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.random((n, 1, 32, 64), dtype=np.float32), np.ones((n, 32, 64), bool)


@pytest.fixture
def biased(tiny_model):
    """Factory: `biased(token)` is the tiny model made to always prefer `token` (huge output bias)."""

    def make(token: int):
        m = tiny_model()
        with torch.no_grad():
            m.out_proj.bias.zero_()
            m.out_proj.bias[token] = 50.0
        return TorchEngine(m)

    return make


@pytest.mark.parametrize("kind", [torch.tensor, np.array])
def test_loops_detects_periods(kind):
    seqs = kind([[7] * 24, [4, 5] * 12, [4, 5, 6] * 7 + [4, 5, 9], list(range(24))])
    assert loops(seqs, max_period=8, loop_tokens=24).tolist() == [True, True, False, False]
    assert loops(seqs[:, :10], max_period=8, loop_tokens=24).tolist() == [False] * 4


def test_greedy_stops_on_loop_before_max_len(biased):
    m = biased(5)
    hyps = greedy(m, *batch(), DecodeConfig(max_len=200, loop_tokens=24), BOS, EOS)
    for h in hyps:
        assert h.tokens == [5] * 24 and not h.finished


def test_max_len_respected(tiny_model):
    m = TorchEngine(tiny_model())
    images, mask = batch()
    for beam in (1, 3):
        for h in decode(m, images, mask, DecodeConfig(beam=beam, max_len=7, loop_tokens=100), BOS, EOS):
            assert len(h.tokens) <= 7


def test_eos_first_gives_empty_finished(biased):
    m = biased(EOS)
    for beam in (1, 4):
        for h in decode(m, *batch(2), DecodeConfig(beam=beam, max_len=10), BOS, EOS):
            assert h.tokens == [] and h.finished


def test_beam_loop_guard_and_batch_independence(biased, tiny_model):
    m = biased(6)
    hyps = beam_search(m, *batch(), DecodeConfig(beam=3, max_len=100, loop_tokens=12), BOS, EOS)
    assert all(len(nbest[0].tokens) <= 12 + 1 for nbest in hyps)
    # every hypothesis is stopped by the guard (a period-8 loop needs 3 periods to be seen)
    assert all(len(h.tokens) <= 3 * 8 + 1 for nbest in hyps for h in nbest)
    # Each image alone decodes as in the batch.
    m = TorchEngine(tiny_model())
    images, mask = batch(3)
    cfg = DecodeConfig(beam=3, max_len=12)
    together = beam_search(m, images, mask, cfg, BOS, EOS)
    for i in range(3):
        alone = beam_search(m, images[i : i + 1], mask[i : i + 1], cfg, BOS, EOS)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in together[i]]


def test_beam_finds_at_least_greedy_score(tiny_model):
    """With length-normalised scores beam search is not guaranteed to beat greedy, but on an
    untrained model's flat distributions the best of K finished hypotheses should not be worse
    than the greedy one when both finish."""
    model = tiny_model()
    with torch.no_grad():
        model.out_proj.bias[EOS] = 2.0  # finish early so both end with EOS
    m = TorchEngine(model)
    images, mask = batch()
    g = greedy(m, images, mask, DecodeConfig(max_len=30), BOS, EOS)
    b = [nbest[0] for nbest in beam_search(m, images, mask, DecodeConfig(beam=5, max_len=30), BOS, EOS)]
    for gh, bh in zip(g, b):
        if gh.finished and bh.finished:
            assert bh.score >= gh.score - 1e-5
