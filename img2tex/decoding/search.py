"""Greedy and beam search, written once over numpy arrays and used with every engine.

An engine (see `engine.Engine`) runs the network: it encodes a batch of images into a state and
advances that state one token at a time, returning log-probabilities as a numpy array. Everything
about choosing tokens lives here, so ONNX Runtime, torch on the CPU and torch on CUDA decode by
the same rules and only the network's arithmetic can differ between them.
"""

from __future__ import annotations

import numpy as np

from img2tex.decoding.engine import Engine
from img2tex.decoding.filters import LogitFilter
from img2tex.decoding.hypotheses import DecodeConfig, Hypothesis, loops

NEG_INF = float("-inf")


def greedy(
    engine: Engine,
    images: np.ndarray,
    mask: np.ndarray,
    cfg: DecodeConfig,
    bos: int,
    eos: int,
    filt: LogitFilter | None = None,
) -> list[Hypothesis]:
    """Argmax decoding of a batch; each row stops at EOS, at a loop, or at max_len; `filt`
    (`decoding.filters`) rules tokens out before each choice.

    Rows that stop leave the batch (`Engine.keep`), so a batch costs the sum of its formulas'
    lengths rather than the longest one times the batch size."""
    state = engine.encode(images, mask)
    b = images.shape[0]
    if filt is not None:
        filt.start(b)
    rows = np.arange(b)  # the images still decoding, in the order of the engine's state
    prev = np.full(b, bos, dtype=np.int64)
    ended = np.zeros(b, dtype=bool)
    lengths = np.zeros(b, dtype=np.int64)
    logp_sum = np.zeros(b, dtype=np.float64)
    seqs = np.full((b, cfg.max_len), eos, dtype=np.int64)
    for t in range(cfg.max_len):
        logp, state, _ = engine.step(state, prev)
        if filt is not None:
            filt.apply(logp)
        tok = logp.argmax(axis=1)
        logp_sum[rows] += logp[np.arange(len(rows)), tok]
        is_eos = tok == eos
        ended[rows] = is_eos
        lengths[rows] += ~is_eos
        seqs[rows, t] = np.where(is_eos, eos, tok)
        stop = is_eos | loops(seqs[rows, : t + 1], cfg.max_period, cfg.loop_tokens)
        if stop.all():
            break
        if stop.any():
            keep = np.flatnonzero(~stop)
            rows, tok = rows[keep], tok[keep]
            state = engine.keep(state, keep)
        else:
            keep = np.arange(len(rows))
        if filt is not None:
            filt.advance(keep, tok)
        prev = tok
    hyps = []
    for i in range(b):
        n = int(lengths[i])
        denom = max(n + int(ended[i]), 1) ** cfg.length_alpha
        hyps.append(Hypothesis(seqs[i, :n].tolist(), float(logp_sum[i]) / denom, bool(ended[i])))
    return hyps


def beam_search(
    engine: Engine,
    images: np.ndarray,
    mask: np.ndarray,
    cfg: DecodeConfig,
    bos: int,
    eos: int,
    filt: LogitFilter | None = None,
) -> list[list[Hypothesis]]:
    """Beam search over a batch: B*K hypotheses advance together; finished ones are set aside
    with their length-normalised score; an image is done when K hypotheses have finished and the
    best finished one scores at least as well as the best live one. Returns each image's
    hypotheses, best first (finished ones before unfinished ones). `filt` rules tokens out
    before each step's choice.

    Row i*K+j holds beam j of image i throughout, so a reorder only moves rows within an image's
    block and the encoded images never move."""
    k = cfg.beam
    b = images.shape[0]
    state = engine.expand(engine.encode(images, mask), k)
    if filt is not None:
        filt.start(b * k)
    scores = np.full((b, k), NEG_INF)
    scores[:, 0] = 0.0  # only one live copy at the start, so the K beams do not duplicate
    seqs = np.empty((b * k, 0), dtype=np.int64)
    prev = np.full(b * k, bos, dtype=np.int64)
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    img_done = np.zeros(b, dtype=bool)
    for t in range(cfg.max_len):
        logp, state, _ = engine.step(state, prev)
        if filt is not None:
            filt.apply(logp)
        vocab = logp.shape[1]
        cand = (scores.reshape(b * k, 1) + logp).reshape(b, k * vocab)
        # The 2K best (2K so that K live ones remain after EOS picks), best first; ties broken by
        # index as torch.topk does, so engines agree token for token.
        part = np.argpartition(-cand, 2 * k - 1, axis=1)[:, : 2 * k]
        order = np.lexsort((part, -np.take_along_axis(cand, part, axis=1)), axis=1)
        idx = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(cand, idx, axis=1)
        beam_idx, tok = idx // vocab, idx % vocab
        new_scores = np.full((b, k), NEG_INF)
        src = np.tile(np.arange(k), (b, 1)) + (np.arange(b) * k)[:, None]  # done images keep their rows
        new_tok = np.full((b, k), eos, dtype=np.int64)
        for i in range(b):
            if img_done[i]:
                continue
            slot = 0
            for j in range(2 * k):
                s = float(top[i, j])
                if s == NEG_INF:
                    break
                row = i * k + int(beam_idx[i, j])
                if tok[i, j] == eos:
                    # Only an EOS ranked among the K best counts (as in HF transformers); lower
                    # ones would fill the finished list with junk before the good beams end.
                    if j < k:
                        finished[i].append(Hypothesis(seqs[row].tolist(), s / (t + 1) ** cfg.length_alpha, True))
                    continue
                new_scores[i, slot] = s
                src[i, slot] = row
                new_tok[i, slot] = tok[i, j]
                slot += 1
                if slot == k:
                    break
            # Stop an image once K hypotheses have finished and the best of them beats the best
            # live beam's current normalised score (live scores only fall as they grow longer).
            best_done = max((h.score for h in finished[i]), default=NEG_INF)
            best_live = new_scores[i, 0] / (t + 1) ** cfg.length_alpha if slot else NEG_INF
            if slot == 0 or (len(finished[i]) >= k and best_done >= best_live):
                img_done[i] = True
        flat_src = src.reshape(-1)
        if filt is not None:
            filt.advance(flat_src, new_tok.reshape(-1))
        seqs = np.concatenate([seqs[flat_src], new_tok.reshape(-1, 1)], axis=1)
        state = engine.reorder(state, flat_src)
        scores = new_scores
        looped = loops(seqs, cfg.max_period, cfg.loop_tokens).reshape(b, k)
        if looped.any():
            for i, j in zip(*np.nonzero(looped)):
                if not img_done[i] and scores[i, j] > NEG_INF:
                    score = float(scores[i, j]) / (t + 1) ** cfg.length_alpha
                    finished[i].append(Hypothesis(seqs[i * k + j].tolist(), score, False))
            scores = np.where(looped, NEG_INF, scores)
            img_done |= np.isinf(scores).all(axis=1)
        scores[img_done] = NEG_INF
        if img_done.all():
            break
        prev = new_tok.reshape(-1)
    # Images whose beams never finished: take the live beams as unfinished hypotheses.
    length = seqs.shape[1]
    for i in range(b):
        if not finished[i]:
            for j in range(k):
                s = float(scores[i, j])
                if s > NEG_INF:
                    finished[i].append(
                        Hypothesis(seqs[i * k + j].tolist(), s / max(length, 1) ** cfg.length_alpha, False)
                    )
            if not finished[i]:
                finished[i].append(Hypothesis([], NEG_INF, False))
    return [_ranked(f) for f in finished]


def _ranked(hyps: list[Hypothesis]) -> list[Hypothesis]:
    """Best first, finished before unfinished; one copy of each token sequence (its best)."""
    seen: set[tuple[int, ...]] = set()
    out = []
    for h in sorted(hyps, key=lambda h: (h.finished, h.score), reverse=True):
        key = tuple(h.tokens)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def decode_nbest(
    engine: Engine,
    images: np.ndarray,
    mask: np.ndarray,
    cfg: DecodeConfig,
    bos: int,
    eos: int,
    filt: LogitFilter | None = None,
) -> list[list[Hypothesis]]:
    """Each image's hypotheses, best first: beam search's finished ones (greedy's one when
    cfg.beam == 1). `images` (B, 1, H, W) float32 ink in [0, 1] and `mask` (B, H, W) bool, as
    `images.batch_arrays` makes them. With a filter that can close a hypothesis (`WellFormed`),
    one cut off unfinished is closed."""
    if cfg.beam <= 1:
        found = [[h] for h in greedy(engine, images, mask, cfg, bos, eos, filt)]
    else:
        found = beam_search(engine, images, mask, cfg, bos, eos, filt)
    close = getattr(filt, "closed", None)
    if close is not None:  # cut off unfinished: close what they left open, so they typeset
        for hyps in found:
            for h in hyps:
                if not h.finished:
                    h.tokens = close(h.tokens)
    return found


def decode(
    engine: Engine,
    images: np.ndarray,
    mask: np.ndarray,
    cfg: DecodeConfig,
    bos: int,
    eos: int,
    filt: LogitFilter | None = None,
) -> list[Hypothesis]:
    """The best hypothesis of each image (`decode_nbest`'s first)."""
    return [hyps[0] for hyps in decode_nbest(engine, images, mask, cfg, bos, eos, filt)]
