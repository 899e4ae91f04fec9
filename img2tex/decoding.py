"""Batched greedy and beam-search decoding with the torch model, and decoding a whole split.

Settings (`hypotheses.DecodeConfig`), hypotheses and the guard against endless loops live in
hypotheses.py, shared with the numpy path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from img2tex.data.pipeline import SplitDataset, collate_images
from img2tex.hypotheses import DecodeConfig, Hypothesis, loops
from img2tex.images import bucket_shape
from img2tex.model import Img2TexModel


@torch.no_grad()
def greedy(
    model: Img2TexModel, images: Tensor, mask: Tensor, cfg: DecodeConfig, bos: int, eos: int
) -> list[Hypothesis]:
    """Argmax decoding of a batch; each row stops at EOS, at a loop, or at max_len."""
    state = model.init_state(model.encode(images, mask))
    b = images.shape[0]
    prev = torch.full((b,), bos, dtype=torch.long, device=images.device)
    done = torch.zeros(b, dtype=torch.bool, device=images.device)
    ended = torch.zeros(b, dtype=torch.bool, device=images.device)
    lengths = torch.zeros(b, dtype=torch.long, device=images.device)
    logp_sum = torch.zeros(b, device=images.device)
    steps: list[Tensor] = []
    for _ in range(cfg.max_len):
        logp, state = model.step(state, prev)
        lp, tok = logp.max(dim=1)
        live = ~done
        logp_sum += torch.where(live, lp, torch.zeros_like(lp))
        is_eos = live & (tok == eos)
        ended |= is_eos
        lengths += (live & ~is_eos).long()
        done |= is_eos
        steps.append(torch.where(done, torch.full_like(tok, eos), tok))
        seqs = torch.stack(steps, dim=1)
        done |= loops(seqs, cfg.max_period, cfg.loop_tokens)
        if bool(done.all()):
            break
        prev = tok
    seqs_l = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in range(b)]
    hyps = []
    for i in range(b):
        n = int(lengths[i])
        denom = max(n + int(ended[i]), 1) ** cfg.length_alpha
        hyps.append(Hypothesis(seqs_l[i][:n], float(logp_sum[i]) / denom, bool(ended[i])))
    return hyps


@torch.no_grad()
def beam_search(
    model: Img2TexModel, images: Tensor, mask: Tensor, cfg: DecodeConfig, bos: int, eos: int
) -> list[Hypothesis]:
    """Beam search over a batch: B*K hypotheses advance together; finished ones are set aside
    with their length-normalised score; an image is done when K hypotheses have finished and the
    best finished one scores at least as well as the best live one."""
    k = cfg.beam
    if k <= 1:
        return greedy(model, images, mask, cfg, bos, eos)
    dev = images.device
    b = images.shape[0]
    state = model.init_state(model.encode(images, mask))
    state = state.select(torch.arange(b, device=dev).repeat_interleave(k))
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # only one live copy at the start, so the K beams do not duplicate
    seqs = torch.empty(b * k, 0, dtype=torch.long, device=dev)
    prev = torch.full((b * k,), bos, dtype=torch.long, device=dev)
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    img_done = [False] * b
    vocab = model.cfg.vocab_size
    for t in range(cfg.max_len):
        logp, state = model.step(state, prev)
        cand = (scores.view(b * k, 1) + logp).view(b, k * vocab)
        top, idx = cand.topk(2 * k, dim=1)  # 2K so that K live ones remain after EOS picks
        beam_idx, tok = idx // vocab, idx % vocab
        new_scores = torch.full((b, k), float("-inf"), device=dev)
        src = torch.zeros(b, k, dtype=torch.long, device=dev)
        new_tok = torch.full((b, k), eos, dtype=torch.long, device=dev)
        top_l, beam_l, tok_l = top.tolist(), beam_idx.tolist(), tok.tolist()
        seqs_rows = None
        for i in range(b):
            if img_done[i]:
                continue
            slot = 0
            for j in range(2 * k):
                s = top_l[i][j]
                if s == float("-inf"):
                    break
                row = i * k + beam_l[i][j]
                if tok_l[i][j] == eos:
                    # Only an EOS ranked among the K best counts (as in HF transformers); lower
                    # ones would fill the finished list with junk before the good beams end.
                    if j < k:
                        if seqs_rows is None:
                            seqs_rows = seqs.tolist()
                        finished[i].append(Hypothesis(seqs_rows[row], s / (t + 1) ** cfg.length_alpha, True))
                    continue
                new_scores[i, slot] = s
                src[i, slot] = row
                new_tok[i, slot] = tok_l[i][j]
                slot += 1
                if slot == k:
                    break
            # Stop an image once K hypotheses have finished and the best of them beats the best
            # live beam's current normalised score (live scores only fall as they grow longer).
            best_done = max((h.score for h in finished[i]), default=float("-inf"))
            best_live = float(new_scores[i, 0]) / (t + 1) ** cfg.length_alpha if slot else float("-inf")
            if slot == 0 or (len(finished[i]) >= k and best_done >= best_live):
                img_done[i] = True
        flat_src = src.view(-1)
        seqs = torch.cat([seqs.index_select(0, flat_src), new_tok.view(-1, 1)], dim=1)
        state = state.select(flat_src)
        scores = new_scores
        looped = loops(seqs, cfg.max_period, cfg.loop_tokens).view(b, k)
        if bool(looped.any()):
            rows = seqs.tolist()
            for i, j in looped.nonzero().tolist():
                if not img_done[i] and scores[i, j] > float("-inf"):
                    finished[i].append(
                        Hypothesis(rows[i * k + j], float(scores[i, j]) / (t + 1) ** cfg.length_alpha, False)
                    )
            scores = scores.masked_fill(looped, float("-inf"))
            for i in range(b):
                if bool(torch.isinf(scores[i]).all()):
                    img_done[i] = True
        done_t = torch.tensor(img_done, device=dev)
        scores = scores.masked_fill(done_t[:, None], float("-inf"))
        if all(img_done):
            break
        prev = new_tok.view(-1)
    # Images whose beams never finished: take the live beams as unfinished hypotheses.
    rows = seqs.tolist()
    length = seqs.shape[1]
    for i in range(b):
        if not finished[i]:
            for j in range(k):
                s = float(scores[i, j])
                if s > float("-inf"):
                    finished[i].append(Hypothesis(rows[i * k + j], s / max(length, 1) ** cfg.length_alpha, False))
            if not finished[i]:
                finished[i].append(Hypothesis([], float("-inf"), False))
    return [max(f, key=lambda h: (h.finished, h.score)) for f in finished]


def decode(
    model: Img2TexModel, images: Tensor, mask: Tensor, cfg: DecodeConfig, bos: int, eos: int
) -> list[Hypothesis]:
    """Greedy when cfg.beam == 1, beam search otherwise; the model is put in eval mode."""
    model.eval()
    if cfg.beam <= 1:
        return greedy(model, images, mask, cfg, bos, eos)
    return beam_search(model, images, mask, cfg, bos, eos)


def decode_split(
    model: Img2TexModel,
    ds: SplitDataset,
    dcfg: DecodeConfig,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    advance: Callable[[int], None] | None = None,
) -> list[Hypothesis]:
    """One hypothesis per dataset item, in dataset order (validation in training, `evaluate`).

    Items are decoded in batches of similar size (sorted by bucket shape) so little time goes
    into padding."""
    shapes = ds.shapes()
    order = sorted(range(len(ds)), key=lambda k: bucket_shape(*shapes[k], ds.image_cfg) + (k,))
    out: list[Hypothesis] = [Hypothesis([], 0.0, False)] * len(ds)
    for s in range(0, len(order), batch_size):
        ks = order[s : s + batch_size]
        images, mask = collate_images([ds[k][1] for k in ks], ds.image_cfg.bucket)
        hyps = decode(model, images.to(device), mask.to(device), dcfg, ds.vocab.bos_id, ds.vocab.eos_id)
        for k, h in zip(ks, hyps):
            out[k] = h
        if advance is not None:
            advance(len(ks))
    return out
