"""The torch network as a decoding `Engine`: for CUDA and for validation during training."""

from __future__ import annotations

import numpy as np
import torch

from img2tex.network.model import Img2TexModel, State


class TorchEngine:
    """Decodes with `model` (put in eval mode) on the device its weights are on."""

    def __init__(self, model: Img2TexModel) -> None:
        self.model = model
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def encode(self, images: np.ndarray, mask: np.ndarray) -> State:
        self.model.eval()
        x = torch.from_numpy(images).to(self.device)
        m = torch.from_numpy(mask).to(self.device)
        return self.model.init_state(self.model.encode(x, m))

    @torch.inference_mode()
    def step(self, state: State, tokens: np.ndarray) -> tuple[np.ndarray, State, np.ndarray]:
        logp, state, alpha = self.model.step(state, torch.from_numpy(tokens).to(self.device))
        return logp.float().cpu().numpy(), state, alpha.float().cpu().numpy()

    @torch.inference_mode()
    def keep(self, state: State, rows: np.ndarray) -> State:
        return state.select(torch.from_numpy(rows).to(self.device))

    @torch.inference_mode()
    def expand(self, state: State, k: int) -> State:
        return state.select(torch.arange(state.h.shape[0], device=self.device).repeat_interleave(k))

    @torch.inference_mode()
    def reorder(self, state: State, rows: np.ndarray) -> State:
        index = torch.from_numpy(rows).to(self.device)
        return State(state.h.index_select(0, index), state.c.index_select(0, index), state.memory)
