"""An exponential moving average of the weights, kept beside training.

Why: the weights at any step carry the noise of the last few batches; their average over the
last ~1/(1 - decay) steps usually validates better at no training cost (one lerp per tensor a
step). With `TrainConfig.ema_decay` > 0 the trainer keeps one, validates with it, and writes it
to `best/` (what ships); `last/` keeps the raw weights, and the average travels in the training
state so that a resumed run goes on exactly.

The decay is warmed up, min(decay, (1 + step) / (10 + step)), so that the average is not held
at the random initial weights for the first thousands of steps. Floating-point buffers (batch
norm's running statistics) are averaged too; integer ones (batches seen) are copied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

PREFIX = "ema/"


class WeightAverage:
    """The moving average of `model`'s state; `update` after each optimizer step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be between 0 and 1, not {decay}")
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                s.lerp_(v.detach(), 1.0 - d)
            else:
                s.copy_(v)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """`model` holds the average inside the block, its own weights again after it."""
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(own)

    def tensors(self) -> dict[str, torch.Tensor]:
        """For the training state: the average under `PREFIX`-named keys."""
        return {PREFIX + k: v for k, v in self.shadow.items()}

    def load(self, tensors: dict[str, torch.Tensor]) -> bool:
        """Take the average back from saved tensors; False when they hold none (a run saved
        before it had one: the average restarts from the current weights)."""
        saved = {k[len(PREFIX) :]: v for k, v in tensors.items() if k.startswith(PREFIX)}
        if set(saved) != set(self.shadow):
            return False
        for k, v in saved.items():
            self.shadow[k].copy_(v.to(self.shadow[k].device))
        return True
