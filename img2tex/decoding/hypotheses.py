"""What a decoder returns and when it gives up: decoding settings, hypotheses, the loop guard.

A model that has not converged (or an image unlike its training data) can emit the same token
or n-gram forever; `loops` stops such a hypothesis once a short pattern has repeated over a long
stretch, so decoding time stays bounded even before `max_len`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class DecodeConfig:
    """How to decode; the one place decoding defaults live (CLI and API read them from here)."""

    # Beam 2: +0.7 BLEU-4 over greedy (1) for 60% of its folder speed, still above 30 images/s on
    # 2 cores; wider beams add little (benchmarks/results/beam_width.md).
    beam: int = 2
    max_len: int = 200
    length_alpha: float = 1.0  # score = sum(log p) / len ** alpha
    #: Keep every hypothesis valid LaTeX (`decoding.filters.WellFormed`).
    well_formed: bool = True
    max_period: int = 8  # loop guard: patterns of 1..max_period tokens ...
    loop_tokens: int = 24  # ... repeated back to back over at least this many tokens


@dataclass
class Hypothesis:
    tokens: list[int]  # without BOS/EOS
    score: float  # length-normalised log-probability
    finished: bool  # ended with EOS (False: hit max_len or was stopped as a loop)


def loops(seqs: T, max_period: int, loop_tokens: int) -> T:
    """(N, L) token rows (a torch tensor or a numpy array) -> (N,) bool, True where the row ends
    in a pattern of period p <= max_period repeated back to back over at least
    max(loop_tokens, 3p) tokens."""
    length = seqs.shape[1]  # type: ignore[attr-defined]
    out = (seqs[:, :0] == 0).any(1)  # type: ignore[index]  # all False, of the caller's kind
    for p in range(1, max_period + 1):
        span = max(loop_tokens, 3 * p)
        if span > length:
            break
        tail = seqs[:, length - span :]  # type: ignore[index]
        out = out | (tail[:, p:] == tail[:, :-p]).all(1)
    return out
