"""Tests for img2tex.network.export: the ONNX graphs of a model folder and the check that they belong to
its weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from img2tex.errors import ModelError
from img2tex.network.checkpoint import load_model, save_model
from img2tex.network.export import ENCODER, MANIFEST, STEP, check_export, export_model, has_export


def tiny_folder(d: Path, tokens: list[str], seed: int, **cfg: object) -> Path:
    """A saved, untrained tiny model folder over `tokens` (`cfg`: cell, decoder, strided_blocks,
    residual, enc_blocks)."""
    from img2tex.images import ImageConfig
    from img2tex.network.config import ModelConfig
    from img2tex.network.model import Img2TexModel
    from img2tex.vocab import build_vocab

    torch.manual_seed(seed)
    vocab = build_vocab([tokens])
    model_cfg = ModelConfig(
        vocab_size=len(vocab),
        enc_blocks=cfg.pop("enc_blocks", [(8, 1, 2, 2), (16, 1, 2, 2), (16, 1, 2, 2)]),
        emb_dim=8,
        hidden_dim=16,
        attn_dim=8,
        dropout=0.0,
        **cfg,
    )  # type: ignore[arg-type]
    save_model(d, Img2TexModel(model_cfg), vocab, ImageConfig())
    return d


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained LSTM model folder with its ONNX export (exporting takes a few seconds)."""
    d = tiny_folder(tmp_path_factory.mktemp("exported") / "m", ["x", "+", "y", "^", "{", "}", "2"], seed=0)
    export_model(d)
    return d


def test_export_writes_graphs_and_manifest(exported: Path) -> None:
    assert has_export(exported)
    manifest = check_export(exported)
    assert manifest["format"] == "img2tex-onnx" and len(manifest["weights_sha256"]) == 64
    assert json.loads((exported / MANIFEST).read_text()) == manifest
    assert (exported / ENCODER).stat().st_size > 0 and (exported / STEP).stat().st_size > 0


def test_graphs_match_torch_for_other_sizes(exported: Path) -> None:
    """Dynamic batch and image size: the encoder and one step agree with torch on shapes other
    than the ones exported with, padding included."""
    from img2tex.decoding.ort import OrtEngine
    from img2tex.decoding.torch_engine import TorchEngine

    model, _, _ = load_model(exported)
    ort_engine, torch_engine = OrtEngine(exported), TorchEngine(model)
    rng = np.random.default_rng(0)
    for b, h, w in ((1, 16, 16), (3, 32, 96), (5, 48, 200)):
        images = rng.random((b, 1, h, w), dtype=np.float32)
        mask = np.ones((b, h, w), bool)
        mask[0, :, w // 2 :] = False
        images[~mask[:, None]] = 0.0
        s_o, s_t = ort_engine.encode(images, mask), torch_engine.encode(images, mask)
        tokens = np.arange(b, dtype=np.int64) % 5 + 4
        lp_o, _, a_o = ort_engine.step(s_o, tokens)
        lp_t, _, a_t = torch_engine.step(s_t, tokens)
        assert lp_o.shape == (b, len(json.loads((exported / "vocab.json").read_text())["tokens"]))
        np.testing.assert_allclose(lp_o, lp_t, atol=1e-4)
        np.testing.assert_allclose(a_o, a_t, atol=1e-5)


def test_stale_export_is_refused(exported: Path, tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(exported, d)
    model, vocab, image_cfg = load_model(d)
    with torch.no_grad():
        model.out_proj.bias.add_(1.0)
    save_model(d, model, vocab, image_cfg)  # new weights, old graphs
    with pytest.raises(ModelError, match="other weights"):
        check_export(d)
    export_model(d)
    assert check_export(d)["weights_sha256"] != check_export(exported)["weights_sha256"]


def test_missing_or_damaged_export(exported: Path, tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(exported, d)
    (d / MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="not readable"):
        check_export(d)
    (d / STEP).unlink()
    assert not has_export(d)
    with pytest.raises(ModelError, match="no ONNX export"):
        check_export(d)


@pytest.mark.parametrize(
    ("cell", "decoder", "strided", "residual"),
    [
        ("gru", "feeding", 0, False),
        ("lstm", "parallel", 0, False),
        ("gru", "parallel", 0, False),
        ("lstm", "parallel", 2, False),
        ("lstm", "parallel", 0, True),
    ],
)
def test_other_models_export(tmp_path: Path, cell: str, decoder: str, strided: int, residual: bool) -> None:
    """A GRU has no cell state (c is (B, 0)), the parallel decoder two layers of state, a strided
    encoder convolutions with a stride, a residual one shortcuts: the graphs still export and
    decode like torch."""
    from img2tex.decoding.hypotheses import DecodeConfig
    from img2tex.decoding.ort import OrtEngine
    from img2tex.decoding.search import decode
    from img2tex.decoding.torch_engine import TorchEngine

    model, vocab, _ = load_model(
        tiny_folder(
            tmp_path / "g",
            ["a", "b", "c"],
            seed=1,
            cell=cell,
            decoder=decoder,
            strided_blocks=strided,
            residual=residual,
            # Blocks of two convolutions, so that a residual encoder has shortcuts to export.
            **({"enc_blocks": [(8, 2, 2, 2), (16, 2, 2, 2), (16, 1, 2, 2)]} if residual else {}),
        )
    )
    export_model(tmp_path / "g")
    images = np.random.default_rng(1).random((2, 1, 32, 64), dtype=np.float32)
    mask = np.ones((2, 32, 64), bool)
    for beam in (1, 3):
        dcfg = DecodeConfig(beam=beam, max_len=12)
        a = decode(OrtEngine(tmp_path / "g"), images, mask, dcfg, vocab.bos_id, vocab.eos_id)
        b = decode(TorchEngine(model), images, mask, dcfg, vocab.bos_id, vocab.eos_id)
        assert [h.tokens for h in a] == [h.tokens for h in b]
