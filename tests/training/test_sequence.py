"""Tests for img2tex.training.sequence: minimum-risk training over the model's own n-best."""

from __future__ import annotations

import json
import math

import pytest
import torch

from img2tex.data.pipeline import Batch
from img2tex.network.config import ModelConfig
from img2tex.training.config import TrainConfig
from img2tex.training.sequence import expected_risk, risk, sequence_rows
from img2tex.training.trainer import train

PAD, BOS, EOS = 0, 1, 2


def _batch(refs: list[list[int]]) -> Batch:
    t = max(map(len, refs)) + 1
    tgt_out = torch.full((len(refs), t), PAD)
    for j, r in enumerate(refs):
        tgt_out[j, : len(r)] = torch.tensor(r)
        tgt_out[j, len(r)] = EOS
    n = len(refs)
    return Batch(torch.zeros(n, 1, 8, 8), torch.ones(n, 8, 8, dtype=torch.bool), tgt_out, tgt_out, list(range(n)))


def test_risk_is_edit_distance_over_the_reference_length() -> None:
    assert risk([5, 6, 7], [5, 6, 7]) == 0.0
    assert risk([5, 7], [5, 6, 7, 8]) == 0.5
    assert risk([], []) == 0.0


def test_rows_hold_the_references_first_then_new_candidates() -> None:
    batch = _batch([[5, 6], [7]])
    cands = [[[5, 6], [5], [5]], [[8, 9], [7]]]  # repeats and the reference itself are dropped
    image, tgt_in, tgt_out, risks, is_ref = sequence_rows(batch, cands, PAD, BOS, EOS)
    assert image.tolist() == [0, 1, 0, 1]
    assert is_ref.tolist() == [True, True, False, False]
    assert risks.tolist() == [0.0, 0.0, 0.5, 2.0]
    assert tgt_in[2].tolist() == [BOS, 5, PAD] and tgt_out[2].tolist() == [5, EOS, PAD]
    assert tgt_out[3].tolist() == [8, 9, EOS]


def test_expected_risk_by_hand_and_its_gradient_lowers_the_costly_candidate() -> None:
    logp = torch.tensor([math.log(0.75), math.log(0.25), -3.0], requires_grad=True)
    set_id = torch.tensor([0, 0, 1])
    risks = torch.tensor([0.0, 1.0, 0.5])
    loss = expected_risk(logp, set_id, risks, 2, alpha=1.0)
    assert float(loss.detach()) == pytest.approx((0.25 + 0.5) / 2)  # a lone candidate has Q = 1
    loss.backward()
    assert logp.grad[1] > 0 > logp.grad[0]  # descent moves probability to the cheaper answer
    assert float(logp.grad[2]) == pytest.approx(0.0, abs=1e-7)
    sharp = expected_risk(logp.detach(), set_id, risks, 2, alpha=20.0)
    assert float(sharp) < float(loss.detach())  # a large alpha puts nearly all of Q on the likeliest


def test_training_with_the_sequence_loss_learns(tmp_path, fake_split) -> None:
    """A tiny model trained with the mixed loss: each step decodes its batch, the loss falls."""
    src = fake_split(4)
    cfg = TrainConfig(
        export=False, batch_size=4, epochs=100, lr=5e-3, warmup_steps=5, log_every=4, val_size=0, device="cpu"
    )
    cfg.mrt_weight, cfg.mrt_beam = 1.0, 2
    model = ModelConfig(enc_blocks=[(8, 1, 2, 2), (16, 1, 2, 2)], emb_dim=16, hidden_dim=32, attn_dim=16)
    summary = train(src, None, tmp_path / "r", cfg, model, progress=False)
    assert summary["status"] == "done"
    losses = [
        e["loss"]
        for e in map(json.loads, (tmp_path / "r" / "log.jsonl").read_text().splitlines())
        if e["kind"] == "train"
    ]
    assert len(losses) == 25 and sum(losses[-3:]) < 0.5 * sum(losses[:3])  # measured: 0.23
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert saved["mrt_weight"] == 1.0 and saved["mrt_beam"] == 2


def test_bad_sequence_settings_are_refused() -> None:
    from img2tex.errors import ModelError

    for bad in ({"mrt_weight": -1.0}, {"mrt_beam": 0}, {"mrt_alpha": 0.0}):
        with pytest.raises(ModelError, match="sequence-level"):
            TrainConfig(**bad)
