"""Greedy decoding of single images with the trained network in numpy, without importing torch.

Why a second forward pass: `img2tex predict one.png` is dominated by start-up, and importing
torch alone takes 1.1-1.6 s on the 2-core CPU the project is measured on, more than the whole
1 s budget. Numpy (already loaded for images) runs the small default network on one image in
well under that. It mirrors `model.Img2TexModel` in eval mode exactly (batchnorm folded into the
convolutions, dropout off) and reads the same model folder; tests check that its log-
probabilities match the torch model's and that both decode the same tokens. Batches, beam
search, training and GPUs stay with torch (`Predictor` picks the engine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from img2tex.architecture import ModelConfig, positional_encoding_2d
from img2tex.errors import ModelError
from img2tex.hypotheses import DecodeConfig, Hypothesis, loops
from img2tex.images import bucket_shape, pad_to
from img2tex.modelfile import WEIGHTS, load_config, load_vocab
from img2tex.vocab import Vocab

BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (Cout, H, W): 3x3 convolution with zero padding 1, as one matmul (im2col)."""
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # (C, H, W, 3, 3)
    cols = cols.transpose(0, 3, 4, 1, 2).reshape(c * 9, h * wd)
    return (w.reshape(w.shape[0], c * 9) @ cols + b[:, None]).reshape(w.shape[0], h, wd)


def _max_pool(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    c, h, w = x.shape
    hh, ww = h // ph, w // pw
    return x[:, : hh * ph, : ww * pw].reshape(c, hh, ph, ww, pw).max(axis=(2, 4))


class NumpyModel:
    """The network of a model folder, for greedy decoding of one image at a time on the CPU."""

    def __init__(self, model_dir: str | Path) -> None:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        d = Path(model_dir)
        self.cfg, self.image_cfg, _ = load_config(d)
        self.vocab: Vocab = load_vocab(d, self.cfg)
        try:
            t = load_file(str(d / WEIGHTS))
        except FileNotFoundError:
            raise ModelError(f"model folder {d}: {WEIGHTS} is missing") from None
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{d / WEIGHTS}: not a readable safetensors file ({exc})") from None
        self._load(d, t)

    def _get(self, d: Path, t: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in t:
            raise ModelError(f"model folder {d}: weights lack {name}; config and weights disagree")
        a = t[name]
        if tuple(a.shape) != shape:
            raise ModelError(f"model folder {d}: tensor {name} has shape {tuple(a.shape)}, config expects {shape}")
        return a.astype(np.float32)

    def _load(self, d: Path, t: dict[str, np.ndarray]) -> None:
        cfg: ModelConfig = self.cfg
        g = lambda name, *shape: self._get(d, t, name, shape)  # noqa: E731
        self.convs: list[tuple[np.ndarray, np.ndarray, tuple[int, int] | None]] = []
        cin, k = 1, 0
        for cout, nconv, ph, pw in cfg.enc_blocks:
            for j in range(nconv):
                w = g(f"encoder.convs.{k}.weight", cout, cin, 3, 3)
                gamma, beta = g(f"encoder.norms.{k}.weight", cout), g(f"encoder.norms.{k}.bias", cout)
                mean, var = g(f"encoder.norms.{k}.running_mean", cout), g(f"encoder.norms.{k}.running_var", cout)
                scale = gamma / np.sqrt(var + BN_EPS)  # eval-mode batchnorm folded into the conv
                pool = (ph, pw) if j == nconv - 1 and (ph, pw) != (1, 1) else None
                self.convs.append((w * scale[:, None, None, None], beta - mean * scale, pool))
                cin, k = cout, k + 1
        e, h, a, v = cfg.enc_dim, cfg.hidden_dim, cfg.attn_dim, cfg.vocab_size
        self.key_w, self.key_b = g("key_proj.weight", a, e), g("key_proj.bias", a)
        self.query_w, self.attn_v = g("query_proj.weight", a, h), g("attn_v.weight", 1, a)[0]
        self.init_h_w, self.init_h_b = g("init_h.weight", h, e), g("init_h.bias", h)
        lstm = cfg.cell == "lstm"
        if lstm:
            self.init_c_w, self.init_c_b = g("init_c.weight", h, e), g("init_c.bias", h)
        self.embed = g("embed.weight", v, cfg.emb_dim)
        gates = (4 if lstm else 3) * h
        self.w_ih, self.w_hh = g("rnn.weight_ih", gates, cfg.emb_dim + e), g("rnn.weight_hh", gates, h)
        self.b_ih, self.b_hh = g("rnn.bias_ih", gates), g("rnn.bias_hh", gates)
        self.out_hidden_w, self.out_hidden_b = g("out_hidden.weight", h, h + e), g("out_hidden.bias", h)
        self.out_w, self.out_b = g("out_proj.weight", v, h), g("out_proj.bias", v)

    # -- the forward pass, mirroring model.Img2TexModel ---------------------------------------
    def encode(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Preprocessed uint8 image -> (feats (N, E), keys (N, A), mask (N,) bool), padded to the
        bucket grid as a batch of one is in torch, so both see the same input."""
        h, w = image.shape
        bh, bw = bucket_shape(h, w, self.image_cfg)
        x = (1.0 - pad_to(image, bh, bw).astype(np.float32) / 255.0)[None]
        m = np.zeros((bh, bw), np.float32)
        m[:h, :w] = 1.0
        for wt, b, pool in self.convs:
            x = np.maximum(_conv3x3(x, wt, b), 0.0) * m
            if pool is not None:
                x = _max_pool(x, *pool)
                m = m[: x.shape[1] * pool[0] : pool[0], : x.shape[2] * pool[1] : pool[1]]
        c, gh, gw = x.shape
        feats = x.reshape(c, gh * gw).T + positional_encoding_2d(gh, gw, c)
        mask = m.reshape(-1) > 0.5
        if not mask.any():
            mask[0] = True  # an image smaller than one cell still has one cell to attend to
        return feats, feats @ self.key_w.T + self.key_b, mask

    def init_state(self, feats: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = feats[mask].mean(axis=0)
        h = np.tanh(self.init_h_w @ mean + self.init_h_b)
        c = np.tanh(self.init_c_w @ mean + self.init_c_b) if self.cfg.cell == "lstm" else np.zeros(0, np.float32)
        return h, c

    def step(
        self, h: np.ndarray, c: np.ndarray, token: int, feats: np.ndarray, keys: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One decoding step -> (log-probabilities (vocab,), h, c)."""
        scores = np.tanh(keys + self.query_w @ h) @ self.attn_v
        scores = np.where(mask, scores, -np.inf)
        alpha = np.exp(scores - scores.max())
        ctx = (alpha / alpha.sum()) @ feats
        gi = self.w_ih @ np.concatenate([self.embed[token], ctx]) + self.b_ih
        gh = self.w_hh @ h + self.b_hh
        n = self.cfg.hidden_dim
        if self.cfg.cell == "lstm":
            z = gi + gh
            i, f, g, o = _sigmoid(z[:n]), _sigmoid(z[n : 2 * n]), np.tanh(z[2 * n : 3 * n]), _sigmoid(z[3 * n :])
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            r, u = _sigmoid(gi[:n] + gh[:n]), _sigmoid(gi[n : 2 * n] + gh[n : 2 * n])
            cand = np.tanh(gi[2 * n :] + r * gh[2 * n :])
            h = (1.0 - u) * cand + u * h
        logits = self.out_w @ np.tanh(self.out_hidden_w @ np.concatenate([h, ctx]) + self.out_hidden_b) + self.out_b
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum()), h, c

    def greedy(self, image: np.ndarray, cfg: DecodeConfig) -> Hypothesis:
        """Argmax decoding with the same stopping rules and score as decoding.greedy."""
        feats, keys, mask = self.encode(image)
        h, c = self.init_state(feats, mask)
        bos, eos = self.vocab.bos_id, self.vocab.eos_id
        tokens: list[int] = []
        logp_sum, ended, prev = 0.0, False, bos
        for _ in range(cfg.max_len):
            logp, h, c = self.step(h, c, prev, feats, keys, mask)
            prev = int(logp.argmax())
            logp_sum += float(logp[prev])
            if prev == eos:
                ended = True
                break
            tokens.append(prev)
            if loops(np.asarray([tokens]), cfg.max_period, cfg.loop_tokens)[0]:
                break
        return Hypothesis(tokens, logp_sum / max(len(tokens) + int(ended), 1) ** cfg.length_alpha, ended)
