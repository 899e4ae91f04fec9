"""The weight average: its arithmetic, that validation and best/ use it while last/ keeps the raw
weights, that a resumed run carries it on exactly, and that a model trained with it learns."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from img2tex.network.config import ModelConfig
from img2tex.training.config import TrainConfig
from img2tex.training.ema import WeightAverage
from img2tex.training.trainer import resume, train


def test_the_average_follows_the_weights_with_a_warmed_up_decay() -> None:
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    avg = WeightAverage(lin, decay=0.99)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    avg.update(lin, step=0)  # decay warmed up: min(0.99, 1/10) = 0.1 -> 0.9 of the new weights
    assert torch.allclose(avg.shadow["weight"], torch.full((1, 2), 0.9))
    for step in range(1, 2000):
        avg.update(lin, step)
    assert torch.allclose(avg.shadow["weight"], torch.ones(1, 2), atol=1e-6)
    with torch.no_grad():
        lin.weight.fill_(5.0)
    with avg.applied(lin):
        assert torch.allclose(lin.weight, torch.ones(1, 2), atol=1e-6)
    assert torch.allclose(lin.weight, torch.full((1, 2), 5.0))  # its own weights back
    other = WeightAverage(lin, decay=0.5)
    assert other.load(avg.tensors()) and torch.allclose(other.shadow["weight"], avg.shadow["weight"])
    assert not other.load({}) and pytest.raises(ValueError, WeightAverage, lin, 1.0)


def _tiny() -> ModelConfig:
    return ModelConfig(
        enc_blocks=[(16, 1, 2, 2), (32, 1, 2, 2), (64, 1, 2, 2)], emb_dim=32, hidden_dim=128, attn_dim=64, dropout=0.0
    )


def _cfg(**kw: object) -> TrainConfig:
    base = dict(export=False, batch_size=4, lr=3e-3, warmup_steps=2, log_every=1, val_size=4, checkpoint_every=1000)
    base.update(device="cpu", decode_max_len=5, ema_decay=0.9)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_training_with_an_average_learns_and_writes_it_to_best(tmp_path, fake_split) -> None:  # type: ignore[no-untyped-def]
    src = fake_split(16)
    train(src, src, tmp_path / "r", _cfg(epochs=12), _tiny(), progress=False)
    entries = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    losses = [e["last_loss"] for e in entries if e["kind"] == "train"]
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4  # it learns
    epochs = [e for e in entries if e["kind"] == "epoch"]
    assert epochs[-1]["val_loss"] < 0.7 * epochs[0]["val_loss"]  # and so does the average it validates
    best = load_file(tmp_path / "r" / "best" / "model.safetensors")
    last = load_file(tmp_path / "r" / "last" / "model.safetensors")
    state = load_file(tmp_path / "r" / "last" / "train_state.safetensors")
    key = next(k for k in last if k.endswith("weight") and last[k].is_floating_point())
    assert not torch.equal(best[key], last[key])  # best/ is the average, last/ the raw weights
    assert ("ema/" + key) in state


def test_a_resumed_run_carries_the_average_on_exactly(tmp_path, fake_split) -> None:  # type: ignore[no-untyped-def]
    src = fake_split(12)
    train(src, src, tmp_path / "a", _cfg(epochs=2), _tiny(), progress=False)
    train(src, src, tmp_path / "b", _cfg(epochs=2, max_steps=4), _tiny(), progress=False)
    resume(src, src, tmp_path / "b", progress=False)
    a = load_file(tmp_path / "a" / "last" / "train_state.safetensors")
    b = load_file(tmp_path / "b" / "last" / "train_state.safetensors")
    emas = [k for k in a if k.startswith("ema/")]
    assert emas and all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in emas)
