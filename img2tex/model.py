"""The image-to-LaTeX network: a CNN encoder and an LSTM decoder with Bahdanau attention.

Shape of the computation (im2markup, Deng et al. 2017, simplified):

* encoder: 3x3 conv + batchnorm + ReLU blocks with max-pools turn a (B, 1, H, W) ink image into a
  (B, H/8, W/8) grid of feature vectors; a 2-D sinusoidal encoding is added so every cell knows
  where it is (cheaper than im2markup's row-BiLSTM on a CPU, and as good for short formulas);
* decoder: at step t the previous state h_{t-1} scores each grid cell,
  e = v^T tanh(W_s h_{t-1} + W_f f)  (W_f f is computed once per image), a softmax masked to the
  real (non-padding) cells weights the cells into a context vector, the context goes into the
  recurrent cell with the embedding of the previous token (input feeding), and the output layer
  reads [h_t; context].

Everything is sized by `ModelConfig`, which is saved beside the weights (see checkpoint.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2tex.errors import ModelError


@dataclass
class ModelConfig:
    """Every size of the network; `vocab_size` is filled in from the vocabulary."""

    vocab_size: int = 0
    #: encoder blocks as (channels, convs in block, pool height, pool width); pools multiply to the
    #: downsampling factors (8 x 8 here).
    enc_blocks: list[tuple[int, int, int, int]] = field(
        default_factory=lambda: [(16, 1, 2, 2), (32, 1, 2, 2), (64, 1, 2, 2), (128, 1, 1, 1)]
    )
    emb_dim: int = 64
    hidden_dim: int = 256
    attn_dim: int = 64
    cell: str = "lstm"  # "lstm" or "gru" (LSTM measured faster on CPU: benchmarks/results)
    dropout: float = 0.1

    @property
    def enc_dim(self) -> int:
        return self.enc_blocks[-1][0]

    @property
    def downsample(self) -> tuple[int, int]:
        """(height, width) factor between image pixels and grid cells."""
        fh = fw = 1
        for _, _, ph, pw in self.enc_blocks:
            fh, fw = fh * ph, fw * pw
        return fh, fw

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["enc_blocks"] = [list(b) for b in self.enc_blocks]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"model config has unknown fields: {', '.join(sorted(unknown))}")
        d = dict(d)
        if "enc_blocks" in d:
            d["enc_blocks"] = [tuple(int(x) for x in b) for b in d["enc_blocks"]]
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.cell not in ("lstm", "gru"):
            raise ModelError(f"model config: cell must be 'lstm' or 'gru', not {self.cell!r}")
        if self.enc_dim % 4:
            raise ModelError("model config: last encoder channel count must be a multiple of 4")
        if not self.enc_blocks or any(len(b) != 4 or min(b) < 1 for b in self.enc_blocks):
            raise ModelError("model config: enc_blocks must be (channels, convs, pool_h, pool_w) with all >= 1")


def cpu_config(vocab_size: int = 0) -> ModelConfig:
    """Default: trains at a few hundred samples/s on 2 CPU cores (see benchmarks/bench_model.py)."""
    return ModelConfig(vocab_size=vocab_size)


def paper_config(vocab_size: int = 0) -> ModelConfig:
    """im2markup-sized network for a GPU (about its encoder widths and 512-unit decoder)."""
    return ModelConfig(
        vocab_size=vocab_size,
        enc_blocks=[(64, 1, 2, 2), (128, 1, 2, 2), (256, 2, 2, 1), (512, 1, 1, 2), (512, 1, 1, 1)],
        emb_dim=80,
        hidden_dim=512,
        attn_dim=512,
        cell="lstm",
        dropout=0.3,
    )


PRESETS = {"cpu": cpu_config, "paper": paper_config}


class Memory(NamedTuple):
    """What the encoder hands the decoder for a batch of images."""

    feats: Tensor  # (B, N, enc_dim) grid cells, flattened row by row
    keys: Tensor  # (B, N, attn_dim) W_f f, precomputed once per image
    mask: Tensor  # (B, N) True where the cell covers real image


class State(NamedTuple):
    """Decoder state at one step; every tensor has the batch (or beam) dimension first."""

    h: Tensor  # (B, hidden)
    c: Tensor  # (B, hidden) for LSTM, (B, 0) for GRU
    memory: Memory

    def select(self, index: Tensor) -> State:
        """Rows `index` of every tensor (beam search reordering / expansion)."""
        m = self.memory
        return State(
            self.h.index_select(0, index),
            self.c.index_select(0, index),
            Memory(m.feats.index_select(0, index), m.keys.index_select(0, index), m.mask.index_select(0, index)),
        )


def positional_encoding_2d(height: int, width: int, dim: int, device: torch.device) -> Tensor:
    """(height*width, dim) sinusoids: first half of the channels encode the row, second half the column."""
    half = dim // 2
    freqs = torch.exp(torch.arange(0, half, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / half))
    ys = torch.arange(height, device=device, dtype=torch.float32)[:, None] * freqs  # (H, half/2)
    xs = torch.arange(width, device=device, dtype=torch.float32)[:, None] * freqs  # (W, half/2)
    pe_y = torch.cat([ys.sin(), ys.cos()], dim=1)[:, None, :].expand(height, width, half)
    pe_x = torch.cat([xs.sin(), xs.cos()], dim=1)[None, :, :].expand(height, width, half)
    return torch.cat([pe_y, pe_x], dim=2).reshape(height * width, dim)


class Encoder(nn.Module):
    """Conv blocks; activations outside the image are zeroed after every conv, so an image's
    features do not depend on how much padding its batch neighbours forced on it (a padded image
    encodes exactly as it would alone, as with the convolution's own zero padding)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.pool_after: list[tuple[int, int] | None] = []
        cin = 1
        for cout, nconv, ph, pw in cfg.enc_blocks:
            for j in range(nconv):
                self.convs.append(nn.Conv2d(cin, cout, 3, padding=1, bias=False))
                self.norms.append(nn.BatchNorm2d(cout))
                self.pool_after.append((ph, pw) if j == nconv - 1 and (ph, pw) != (1, 1) else None)
                cin = cout

    def forward(self, images: Tensor, image_mask: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 1, H, W) float ink in [0, 1]; image_mask (B, H, W) bool -> (B, C, h, w), (B, h, w)."""
        x = images
        m = image_mask[:, None].to(images.dtype)
        for conv, norm, pool in zip(self.convs, self.norms, self.pool_after):
            x = F.relu(norm(conv(x))) * m
            if pool is not None:
                x = F.max_pool2d(x, pool, pool)
                # Masks are top-left rectangles (padding is bottom/right), so a window holds a
                # valid pixel exactly when its top-left pixel is valid: slicing = max-pooling, cheaper.
                hh, ww = x.shape[2], x.shape[3]
                m = m[:, :, : hh * pool[0] : pool[0], : ww * pool[1] : pool[1]]
        return x, m[:, 0] > 0.5


class Img2TexModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        if cfg.vocab_size < 5:
            raise ModelError("model config: vocab_size must be set (at least the 4 special tokens and one more)")
        self.cfg = cfg
        d, h, a = cfg.enc_dim, cfg.hidden_dim, cfg.attn_dim
        self.encoder = Encoder(cfg)
        self.key_proj = nn.Linear(d, a)  # W_f
        self.query_proj = nn.Linear(h, a, bias=False)  # W_s
        self.attn_v = nn.Linear(a, 1, bias=False)  # v
        self.init_h = nn.Linear(d, h)
        self.init_c = nn.Linear(d, h) if cfg.cell == "lstm" else None
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        cell_in = cfg.emb_dim + d
        self.rnn: nn.Module = nn.LSTMCell(cell_in, h) if cfg.cell == "lstm" else nn.GRUCell(cell_in, h)
        self.out_hidden = nn.Linear(h + d, h)
        self.out_proj = nn.Linear(h, cfg.vocab_size)
        self.drop = nn.Dropout(cfg.dropout)

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, images: Tensor, image_mask: Tensor) -> Memory:
        """Grid of position-aware features plus their attention keys and validity mask."""
        grid, mask = self.encoder(images, image_mask)
        b, c, gh, gw = grid.shape
        feats = grid.flatten(2).transpose(1, 2) + positional_encoding_2d(gh, gw, c, grid.device).to(grid.dtype)
        mask = mask.reshape(b, gh * gw)
        # An image smaller than one cell would leave nothing to attend to; keep the first cell.
        mask = mask | (~mask.any(dim=1, keepdim=True) & (torch.arange(gh * gw, device=mask.device) == 0))
        return Memory(feats, self.key_proj(feats), mask)

    def init_state(self, memory: Memory) -> State:
        """Initial recurrent state from the mean of the valid cells (better than zeros)."""
        w = memory.mask.unsqueeze(-1).to(memory.feats.dtype)
        mean = (memory.feats * w).sum(1) / w.sum(1).clamp_min(1.0)
        h = torch.tanh(self.init_h(mean))
        c = torch.tanh(self.init_c(mean)) if self.init_c is not None else h.new_zeros(h.shape[0], 0)
        return State(h, c, memory)

    # -- decoder -------------------------------------------------------------------------------
    def _attend(self, h: Tensor, memory: Memory) -> Tensor:
        scores = self.attn_v(torch.tanh(memory.keys + self.query_proj(h).unsqueeze(1))).squeeze(-1)
        scores = scores.masked_fill(~memory.mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)
        return torch.bmm(alpha.unsqueeze(1), memory.feats).squeeze(1)

    def _recur(self, state: State, emb: Tensor) -> tuple[State, Tensor]:
        """One step without the output layer: returns the new state and the features [h_t; ctx]."""
        ctx = self._attend(state.h, state.memory)
        x = torch.cat([emb, ctx], dim=1)
        if self.init_c is not None:
            h, c = self.rnn(x, (state.h, state.c))
        else:
            h = self.rnn(x, state.h)
            c = state.c
        return State(h, c, state.memory), torch.cat([h, ctx], dim=1)

    def _output(self, hc: Tensor) -> Tensor:
        return self.out_proj(self.drop(torch.tanh(self.out_hidden(hc))))

    def forward(self, images: Tensor, image_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: tgt_in (B, T) starts with BOS -> logits (B, T, vocab)."""
        state = self.init_state(self.encode(images, image_mask))
        embs = self.drop(self.embed(tgt_in))
        outs = []
        for t in range(tgt_in.shape[1]):
            state, hc = self._recur(state, embs[:, t])
            outs.append(hc)
        # The output layer runs once over all steps: one big matmul instead of T small ones.
        return self._output(torch.stack(outs, dim=1))

    def step(self, state: State, prev_tokens: Tensor) -> tuple[Tensor, State]:
        """One decoding step: prev_tokens (B,) -> log-probabilities (B, vocab) and the next state."""
        state, hc = self._recur(state, self.embed(prev_tokens))
        return torch.log_softmax(self._output(hc).float(), dim=-1), state


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
