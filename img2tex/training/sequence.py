"""Sequence-level training: minimum risk over the model's own n-best, mixed with the token loss.

Why: token-level training only ever shows the decoder the reference's prefixes (teacher
forcing), so at prediction time it meets its own mistakes unprepared: answers that stop early or
run to the length cap are the sign (exposure bias). Minimum-risk training (Shen et al. 2016;
Edunov et al. 2018, "Classical Structured Prediction Losses for Sequence to Sequence Learning")
decodes each training image with the current weights, scores the candidates against the
reference, and moves probability from the costly candidates to the cheap ones. Wang & Liu (2019)
took im2latex-100k past 90 BLEU-4 with a sequence-level stage after token-level training.

Per image the candidate set is the beam's `beam` best answers plus the reference (risk 0), the
repeats removed. Each candidate's probability is its teacher-forced log-probability summed over
its tokens, scaled by `alpha` and renormalized over the set (Q); the risk is the token edit
distance divided by the reference's length; the loss is the expected risk under Q. It is added to
the token loss with weight `mrt_weight`, so the model keeps what token-level training taught it.

All rows (the references and every candidate) go through the network in one teacher-forced
call, so under DistributedDataParallel the gradients are averaged as for the token loss.
"""

from __future__ import annotations

import editdistance
import torch
from torch import Tensor

from img2tex.data.pipeline import Batch
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.search import decode_nbest
from img2tex.decoding.torch_engine import TorchEngine
from img2tex.network.model import Img2TexModel


def candidates(model: Img2TexModel, batch: Batch, beam: int, bos: int, eos: int, pad: int) -> list[list[list[int]]]:
    """Each image's `beam` best token lists from beam search with the current weights (in eval
    mode, without gradients; the model is put back in training mode). The length cap is the
    batch's longest reference x1.5 + 5: a candidate past it is wrong anyway."""
    longest = int((batch.tgt_out != pad).sum(1).max())
    cfg = DecodeConfig(beam=beam, max_len=int(longest * 1.5) + 5)
    try:
        found = decode_nbest(TorchEngine(model), batch.images.cpu().numpy(), batch.mask.cpu().numpy(), cfg, bos, eos)
    finally:
        model.train()
    return [[h.tokens for h in hyps[:beam]] for hyps in found]


def risk(hyp: list[int], ref: list[int]) -> float:
    """Token edit distance over the reference's length (0 for the reference itself)."""
    return editdistance.eval(hyp, ref) / max(1, len(ref))


def sequence_rows(
    batch: Batch, cands: list[list[list[int]]], pad: int, bos: int, eos: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The rows one teacher-forced call reads: the batch's own (references) first, then each
    image's candidates that differ from its reference and from each other. Returns, per row, the
    image it belongs to (also its candidate set), tgt_in, tgt_out, its risk, and whether it is a
    reference row."""
    refs = [row[row != pad][:-1].tolist() for row in batch.tgt_out.cpu()]  # drop EOS
    rows: list[tuple[int, list[int], float]] = [(i, ref, 0.0) for i, ref in enumerate(refs)]
    for i, hyps in enumerate(cands):
        seen = {tuple(refs[i])}
        for h in hyps:
            if tuple(h) not in seen:
                seen.add(tuple(h))
                rows.append((i, h, risk(h, refs[i])))
    t = max(len(toks) for _, toks, _ in rows) + 1
    n = len(rows)
    tgt_in = torch.full((n, t), pad, dtype=torch.long)
    tgt_out = torch.full((n, t), pad, dtype=torch.long)
    for j, (_, toks, _) in enumerate(rows):
        seq = torch.tensor(toks, dtype=torch.long)
        tgt_in[j, 0] = bos
        tgt_in[j, 1 : len(toks) + 1] = seq
        tgt_out[j, : len(toks)] = seq
        tgt_out[j, len(toks)] = eos
    image = torch.tensor([i for i, _, _ in rows])
    risks = torch.tensor([r for _, _, r in rows], dtype=torch.float32)
    is_ref = torch.arange(n) < len(refs)
    return image, tgt_in, tgt_out, risks, is_ref


def expected_risk(seq_logp: Tensor, set_id: Tensor, risks: Tensor, n_sets: int, alpha: float) -> Tensor:
    """Mean over the sets of sum(Q * risk), Q = softmax(alpha * seq_logp) within each set."""
    scaled = alpha * seq_logp
    top = torch.full((n_sets,), float("-inf"), device=scaled.device).scatter_reduce(
        0, set_id, scaled.detach(), reduce="amax"
    )
    w = torch.exp(scaled - top[set_id])
    z = torch.zeros(n_sets, device=w.device, dtype=w.dtype).index_add(0, set_id, w)
    q = w / z[set_id]
    return torch.zeros(n_sets, device=w.device, dtype=w.dtype).index_add(0, set_id, q * risks).mean()
