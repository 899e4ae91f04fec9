import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from img2tex.errors import ModelError
from img2tex.fileio import folder_damage
from img2tex.images import ImageConfig
from img2tex.network.checkpoint import (
    compact_training_state,
    load_model,
    load_training_state,
    save_model,
    save_training_state,
)
from img2tex.vocab import build_vocab


def vocab12():
    v = build_vocab([[f"t{i}" for i in range(8)]])
    assert len(v) == 12
    return v


@pytest.fixture
def saved(tmp_path, tiny_model):
    m = tiny_model()
    save_model(tmp_path / "m", m, vocab12(), ImageConfig(bucket=32))
    return m, tmp_path / "m"


def test_round_trip_identical_outputs(saved):
    m, d = saved
    m2, vocab, image_cfg = load_model(d)
    assert len(vocab) == 12 and image_cfg == ImageConfig(bucket=32)
    images, mask = torch.rand(2, 1, 32, 64), torch.ones(2, 32, 64, dtype=torch.bool)
    tgt = torch.tensor([[1, 4, 5], [1, 6, 7]])
    assert torch.equal(m(images, mask, tgt), m2(images, mask, tgt))
    assert not any(p.name.endswith((".pt", ".pkl", ".bin")) for p in d.iterdir())


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "vocab.json"])
def test_missing_file(saved, name):
    _, d = saved
    (d / name).unlink()
    with pytest.raises(ModelError, match=name):
        load_model(d)


def test_vocab_size_mismatch(saved):
    _, d = saved
    build_vocab([["a", "b"]]).save(d / "vocab.json")
    with pytest.raises(ModelError, match="vocabulary has 6 tokens"):
        load_model(d)


def test_config_and_weights_disagree(saved):
    _, d = saved
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["hidden_dim"] = 32
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="shape"):
        load_model(d)


def test_missing_and_extra_tensors(saved):
    _, d = saved
    tensors = load_file(d / "model.safetensors")
    save_file({**tensors, "bogus": torch.zeros(1)}, d / "model.safetensors")
    with pytest.raises(ModelError, match="unexpected"):
        load_model(d)
    tensors.pop("attn_v.weight")
    save_file(tensors, d / "model.safetensors")
    with pytest.raises(ModelError, match="lack"):
        load_model(d)


def test_corrupt_files(saved):
    _, d = saved
    (d / "model.safetensors").write_bytes(b"\x80\x03not safetensors")
    with pytest.raises(ModelError, match="safetensors"):
        load_model(d)
    (d / "config.json").write_text("{")
    with pytest.raises(ModelError, match="JSON"):
        load_model(d)
    with pytest.raises(ModelError, match="not found"):
        load_model(d / "nope")


def test_training_state_round_trip(tmp_path, tiny_model):
    import random

    import numpy as np

    m = tiny_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(
        torch.rand(2, 1, 32, 32), torch.ones(2, 32, 32, dtype=torch.bool), torch.tensor([[1, 4], [1, 5]])
    ).sum().backward()
    opt.step()
    save_training_state(tmp_path, opt, {"step": 7, "epoch": 1, "position": 3})
    expect = (torch.rand(3), np.random.rand(3), random.random())
    opt2 = torch.optim.Adam(m.parameters(), lr=5.0)
    state = load_training_state(tmp_path, opt2)
    assert state == {"step": 7, "epoch": 1, "position": 3}
    assert torch.equal(torch.rand(3), expect[0])
    assert np.array_equal(np.random.rand(3), expect[1]) and random.random() == expect[2]
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for k, v in a["state"].items():
        for name, t in v.items():
            assert torch.equal(torch.as_tensor(t), torch.as_tensor(b["state"][k][name]))


def test_training_state_keeps_the_running_optimizers_implementation(tmp_path, tiny_model):
    """A checkpoint written by a per-tensor Adam (older runs) resumes into the foreach one the
    trainer now builds: moments restored, and still foreach."""
    m = tiny_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    images, mask = torch.rand(2, 1, 32, 32), torch.ones(2, 32, 32, dtype=torch.bool)
    m(images, mask, torch.tensor([[1, 4], [1, 5]])).sum().backward()
    opt.step()
    save_training_state(tmp_path, opt, {"step": 1})
    batched = torch.optim.Adam(m.parameters(), lr=1e-3, foreach=True)
    load_training_state(tmp_path, batched, restore_rng=False)
    assert batched.param_groups[0]["foreach"] is True
    p = next(iter(m.parameters()))
    assert torch.equal(batched.state[p]["exp_avg"], opt.state[p]["exp_avg"])
    before = p.detach().clone()
    batched.step()
    assert not torch.equal(p, before)


def test_compact_training_state_resumes_with_rounded_moments(tmp_path, tiny_model):
    """The compact copy stores the moments in bfloat16, a third of the size; loading gives them
    back as float32 within bfloat16's rounding, and the weights, step and RNG state unchanged."""
    m = tiny_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(
        torch.rand(2, 1, 32, 32), torch.ones(2, 32, 32, dtype=torch.bool), torch.tensor([[1, 4], [1, 5]])
    ).sum().backward()
    opt.step()
    save_model(tmp_path / "last", m, vocab12(), ImageConfig(bucket=32))
    save_training_state(tmp_path / "last", opt, {"step": 7})
    out = compact_training_state(tmp_path / "last", tmp_path / "small")
    assert folder_damage(out) is None
    full, small = (load_file(d / "train_state.safetensors") for d in (tmp_path / "last", out))
    assert full.keys() == small.keys()
    assert {str(v.dtype) for k, v in small.items() if k.endswith("exp_avg_sq")} == {"torch.bfloat16"}
    sizes = [(d / "train_state.safetensors").stat().st_size for d in (tmp_path / "last", out)]
    assert sizes[1] < 0.6 * sizes[0]
    restored = torch.optim.Adam(m.parameters(), lr=1e-3)
    assert load_training_state(out, restored) == {"step": 7}
    for p in m.parameters():
        a, b = opt.state[p], restored.state[p]
        assert b["exp_avg_sq"].dtype == torch.float32
        assert torch.equal(a["step"], b["step"])
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.allclose(a[name], b[name], rtol=1 / 128, atol=0)
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "last/model.safetensors").read_bytes()
