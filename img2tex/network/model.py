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

Everything is sized by `ModelConfig` (architecture.py), which is saved beside the weights (see
checkpoint.py).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2tex.errors import ModelError
from img2tex.network.config import ModelConfig


def positional_encoding_2d(height: int, width: int, dim: int, like: Tensor) -> Tensor:
    """(height*width, dim) sinusoids on `like`'s device and dtype: the first half of the channels
    encode the row, the second half the column, so every grid cell knows where it is.

    Built from torch ops on the grid's own sizes (not a table), so an exported graph computes it
    for whatever image size it is given."""
    half = dim // 2
    freqs = torch.exp(torch.arange(0, half, 2, device=like.device, dtype=torch.float32) * (-math.log(10000.0) / half))
    ys = torch.arange(height, device=like.device, dtype=torch.float32)[:, None] * freqs  # (H, half/2)
    xs = torch.arange(width, device=like.device, dtype=torch.float32)[:, None] * freqs  # (W, half/2)
    pe_y = torch.cat([torch.sin(ys), torch.cos(ys)], dim=1)[:, None, :].expand(height, width, half)
    pe_x = torch.cat([torch.sin(xs), torch.cos(xs)], dim=1)[None, :, :].expand(height, width, half)
    return torch.cat([pe_y, pe_x], dim=2).reshape(height * width, dim).to(like.dtype)


#: Elements of the additive-attention tanh built at once by the parallel decoder (~64 MB in float32).
ATTN_CHUNK_ELEMENTS = 1 << 24


class _AdditiveScores(torch.autograd.Function):
    """scores[b, t, n] = v . tanh(keys[b, n] + queries[b, t]) with a hand-written backward.

    Why: in the parallel decoder's training step this (B, T, N, attn) tanh is the largest tensor,
    and autograd's chain (add, tanh, a linear layer to one output, and their backwards) walks it
    about ten times. Here the forward is one add, an in-place tanh and a matrix-vector product;
    the backward reuses the saved tanh in place and pulls `v` out of the two sums (it is a
    per-channel factor), so it walks the tensor five times. With the foreach Adam, training at the
    `cpu` preset ran 1.11x faster end to end on 2 CPU cores (docs/experiments.md, 2026-11-26:
    "A faster step"). Not twice differentiable (training never needs it). Decoding and the ONNX
    export keep `Img2TexModel._attend`'s plain ops, one step at a time."""

    @staticmethod
    def forward(ctx: Any, keys: Tensor, queries: Tensor, v: Tensor) -> Tensor:
        with torch.autocast(keys.device.type, enabled=False):  # the dtype is chosen by the caller
            e = (keys[:, None] + queries[:, :, None]).tanh_()  # (B, T, N, A)
            ctx.save_for_backward(e, v)
            return e @ v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, ds: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        e, v = ctx.saved_tensors
        ds = ds.to(e.dtype).contiguous()  # (B, T, N)
        dv = (ds.reshape(1, -1) @ e.reshape(-1, e.shape[-1])).reshape(-1)
        # d tanh = 1 - e^2: grad_pre = ds * v * (1 - e^2), and v leaves the sums over t and n.
        w = e.mul_(e).mul_(ds[..., None])  # e^2 * ds, in the saved tensor (used once)
        dk = (ds.sum(1)[..., None] - w.sum(1)) * v
        dq = (ds.sum(2)[..., None] - w.sum(2)) * v
        return dk, dq, dv


def additive_scores(keys: Tensor, queries: Tensor, v: Tensor) -> Tensor:
    """Bahdanau scores of every query against every key: keys (B, N, A), queries (B, T, A),
    v (A,) -> (B, T, N). bf16/float16 inputs are computed in float32 on a CPU, where bf16 tanh is
    slower than float32 (measured on an AVX512-BF16/AMX Xeon); in their own dtype elsewhere."""
    dtype = torch.promote_types(torch.promote_types(keys.dtype, queries.dtype), v.dtype)
    if keys.device.type == "cpu" and dtype in (torch.bfloat16, torch.float16):
        dtype = torch.float32
    return _AdditiveScores.apply(keys.to(dtype), queries.to(dtype), v.to(dtype))


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


class Encoder(nn.Module):
    """Conv blocks; activations outside the image are zeroed after every conv, so an image's
    features do not depend on how much padding its batch neighbours forced on it (a padded image
    encodes exactly as it would alone, as with the convolution's own zero padding)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.pool_after: list[tuple[int, int] | None] = []
        #: Per conv: its stride when it downsamples (a strided block's first conv), else None.
        self.stride: list[tuple[int, int] | None] = []
        #: Per conv: whether its input is added to its output (`ModelConfig.residual`).
        self.skip: list[bool] = []
        cin = 1
        for b, (cout, nconv, ph, pw) in enumerate(cfg.enc_blocks):
            strided = b < cfg.strided_blocks and (ph, pw) != (1, 1)
            for j in range(nconv):
                stride = (ph, pw) if strided and j == 0 else (1, 1)
                self.convs.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False))
                self.norms.append(nn.BatchNorm2d(cout))
                self.stride.append(stride if stride != (1, 1) else None)
                self.skip.append(cfg.residual and j > 0)
                last = j == nconv - 1
                self.pool_after.append((ph, pw) if last and not strided and (ph, pw) != (1, 1) else None)
                cin = cout

    def forward(self, images: Tensor, image_mask: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 1, H, W) float ink in [0, 1]; image_mask (B, H, W) bool -> (B, C, h, w), (B, h, w)."""
        # Channels-last: the CPU's oneDNN convolutions and pools run faster on it (measured ~10% of
        # a training step; docs/experiments.md, "Parallel decoder or input feeding"); the numbers are the same.
        x = images.contiguous(memory_format=torch.channels_last)
        m = image_mask[:, None].to(images.dtype)
        for conv, norm, pool, stride, skip in zip(self.convs, self.norms, self.pool_after, self.stride, self.skip):
            if stride is not None:
                # Output cell (i, j) is centred on input pixel (2i, 2j): valid exactly when it is.
                m = m[:, :, :: stride[0], :: stride[1]]
            y = norm(conv(x))
            x = F.relu(y + x if skip else y) * m
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
        self.parallel = cfg.decoder == "parallel"
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        if self.parallel:
            # Layer 1 reads the tokens, layer 2 reads [layer-1 state; context]; each is one fused
            # call over the whole target in training. Layer 2 gets its own initial state.
            self.rnn: nn.Module = rnn(cfg.emb_dim, h, batch_first=True)
            self.rnn2 = rnn(h + d, h, batch_first=True)
            self.init_h2 = nn.Linear(d, h)
            self.init_c2 = nn.Linear(d, h) if cfg.cell == "lstm" else None
        else:
            cell_in = cfg.emb_dim + d
            self.rnn = nn.LSTMCell(cell_in, h) if cfg.cell == "lstm" else nn.GRUCell(cell_in, h)
        self.out_hidden = nn.Linear(h + d, h)
        self.out_proj = nn.Linear(h, cfg.vocab_size)
        self.drop = nn.Dropout(cfg.dropout)

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, images: Tensor, image_mask: Tensor) -> Memory:
        """Grid of position-aware features plus their attention keys and validity mask."""
        grid, mask = self.encoder(images, image_mask)
        b, c, gh, gw = grid.shape
        feats = grid.flatten(2).transpose(1, 2) + positional_encoding_2d(gh, gw, c, grid)
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
        if self.parallel:  # both layers' states side by side: (B, 2*hidden)
            h = torch.cat([h, torch.tanh(self.init_h2(mean))], dim=1)
            if self.init_c2 is not None:
                c = torch.cat([c, torch.tanh(self.init_c2(mean))], dim=1)
        return State(h, c, memory)

    # -- decoder -------------------------------------------------------------------------------
    def _attend(self, h: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """Context (B, enc_dim) and attention weights (B, N) for the query state h."""
        scores = self.attn_v(torch.tanh(memory.keys + self.query_proj(h).unsqueeze(1))).squeeze(-1)
        scores = scores.masked_fill(~memory.mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)
        return torch.bmm(alpha.unsqueeze(1), memory.feats).squeeze(1), alpha

    def _recur(self, state: State, emb: Tensor) -> tuple[State, Tensor, Tensor]:
        """One step without the output layer: the new state, the features [h_t; ctx] and the
        attention weights."""
        ctx, alpha = self._attend(state.h, state.memory)
        x = torch.cat([emb, ctx], dim=1)
        if self.init_c is not None:
            h, c = self.rnn(x, (state.h, state.c))
        else:
            h = self.rnn(x, state.h)
            c = state.c
        return State(h, c, state.memory), torch.cat([h, ctx], dim=1), alpha

    def _output(self, hc: Tensor) -> Tensor:
        return self.out_proj(self.drop(torch.tanh(self.out_hidden(hc))))

    def forward(self, images: Tensor, image_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: tgt_in (B, T) starts with BOS -> logits (B, T, vocab)."""
        state = self.init_state(self.encode(images, image_mask))
        embs = self.drop(self.embed(tgt_in))
        if self.parallel:
            return self._forward_parallel(state, embs)
        outs = []
        for t in range(tgt_in.shape[1]):
            state, hc, _ = self._recur(state, embs[:, t])
            outs.append(hc)
        # The output layer runs once over all steps: one big matmul instead of T small ones.
        return self._output(torch.stack(outs, dim=1))

    def _split(self, state: State) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """The parallel decoder's (layer-1, layer-2) states as nn.LSTM/nn.GRU want them: (1, B, H)."""
        n = self.cfg.hidden_dim
        h1, h2 = state.h[None, :, :n].contiguous(), state.h[None, :, n:].contiguous()
        if self.init_c is None:
            return (h1,), (h2,)
        return (h1, state.c[None, :, :n].contiguous()), (h2, state.c[None, :, n:].contiguous())

    def _run(self, rnn: nn.Module, x: Tensor, hidden: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        out, new = rnn(x, hidden if len(hidden) == 2 else hidden[0])
        return out, (new if isinstance(new, tuple) else (new,))

    def _attend_all(self, queries: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """Additive attention for every step at once: queries (B, T, H) -> contexts (B, T, D) and
        weights (B, T, N). The (B, T, N, attn) tanh is the only large intermediate; time is cut
        into chunks so that its peak stays near ATTN_CHUNK_ELEMENTS while it is built."""
        q = self.query_proj(queries)  # (B, T, A)
        b, t, a = q.shape
        n = memory.keys.shape[1]
        step = max(1, ATTN_CHUNK_ELEMENTS // max(1, b * n * a))
        v = self.attn_v.weight[0]
        scores = [additive_scores(memory.keys, q[:, s : s + step], v) for s in range(0, t, step)]
        sc = torch.cat(scores, dim=1).masked_fill(~memory.mask[:, None], float("-inf"))
        alpha = torch.softmax(sc, dim=-1)
        return torch.bmm(alpha.to(memory.feats.dtype), memory.feats), alpha

    def _forward_parallel(self, state: State, embs: Tensor) -> Tensor:
        first, second = self._split(state)
        s1, _ = self._run(self.rnn, embs, first)  # (B, T, H): layer 1 after reading each input token
        ctx, _ = self._attend_all(s1, state.memory)
        s2, _ = self._run(self.rnn2, torch.cat([s1, ctx.to(s1.dtype)], dim=-1), second)
        return self._output(torch.cat([s2, ctx.to(s2.dtype)], dim=-1))

    def _step_parallel(self, state: State, emb: Tensor) -> tuple[State, Tensor, Tensor]:
        first, second = self._split(state)
        s1, first = self._run(self.rnn, emb[:, None], first)
        ctx, alpha = self._attend(s1[:, 0], state.memory)
        s2, second = self._run(self.rnn2, torch.cat([s1[:, 0], ctx], dim=-1)[:, None], second)
        h = torch.cat([first[0][0], second[0][0]], dim=1)
        c = torch.cat([first[1][0], second[1][0]], dim=1) if len(first) == 2 else state.c
        return State(h, c, state.memory), torch.cat([s2[:, 0], ctx], dim=1), alpha

    def step(self, state: State, prev_tokens: Tensor) -> tuple[Tensor, State, Tensor]:
        """One decoding step: prev_tokens (B,) -> log-probabilities (B, vocab), the next state and
        the attention weights over the grid cells (B, N) that produced them."""
        emb = self.embed(prev_tokens)
        if self.parallel:
            state, hc, alpha = self._step_parallel(state, emb)
        else:
            state, hc, alpha = self._recur(state, emb)
        return torch.log_softmax(self._output(hc).float(), dim=-1), state, alpha


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
