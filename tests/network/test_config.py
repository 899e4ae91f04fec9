"""Tests for img2tex.network.config: encoder blocks from a command line."""

from __future__ import annotations

import pytest

from img2tex.errors import ModelError
from img2tex.network.config import ModelConfig, cpu_config, parse_enc_blocks


def test_parse_enc_blocks_reads_each_block() -> None:
    blocks = parse_enc_blocks("16:1:2x2, 32:1:2x2,64:2:2X4,128:1:1x1")
    assert blocks == [(16, 1, 2, 2), (32, 1, 2, 2), (64, 2, 2, 4), (128, 1, 1, 1)]
    cfg = ModelConfig(enc_blocks=blocks)
    cfg.validate()
    assert cfg.downsample == (8, 16) and cfg.enc_dim == 128


def test_parse_enc_blocks_round_trips_the_cpu_preset() -> None:
    blocks = cpu_config().enc_blocks
    spec = ",".join(f"{c}:{n}:{h}x{w}" for c, n, h, w in blocks)
    assert parse_enc_blocks(spec) == list(blocks)


@pytest.mark.parametrize("spec", ["", "16:1:2", "16:1:2x", "a:1:2x2", "16:1:2x2:3", "16,32"])
def test_parse_enc_blocks_rejects_malformed_blocks(spec: str) -> None:
    with pytest.raises(ModelError, match="CHANNELS:CONVS:POOL_HxPOOL_W"):
        parse_enc_blocks(spec)


@pytest.mark.parametrize("dropout", [-0.1, 1.0])
def test_dropout_outside_0_to_1_is_refused(dropout: float) -> None:
    with pytest.raises(ModelError, match="dropout"):
        ModelConfig(dropout=dropout).validate()
