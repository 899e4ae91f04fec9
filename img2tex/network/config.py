"""What the network is, apart from any framework: its sizes and its fixed (non-learned) parts.

Torch-free on purpose: reading a model folder's config (prediction on ONNX Runtime, the CLI's
help) must not cost torch's start-up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from img2tex.errors import ModelError


@dataclass
class ModelConfig:
    """Every size of the network; `vocab_size` is filled in from the vocabulary."""

    vocab_size: int = 0
    #: encoder blocks as (channels, convs in block, pool height, pool width); pools multiply to the
    #: downsampling factors (8 x 8 here). The first block has two convolutions before its max-pool,
    #: so what the pool keeps has seen 5x5 pixels, an accent's size; the last two blocks have two
    #: each, where a convolution is cheap (H/4 and H/8 grids; they learned more per step: 78.1
    #: against 75.3 when a CPU hour's steps were replayed on a GPU). Against the same encoder with one
    #: convolution in the first block, a step costs 16% more on 2 cores, but it learns more per step
    #: and reads accents better: on the 998 validation images after a CPU hour, BLEU-4 79.7 against
    #: 78.0 (78.8 against 77.5 on the budget's 500) and 43% of the accents read right against 34%
    #: (docs/experiments.md, 2026-11-27: "A finer first stage"; the earlier encoders are there too).
    enc_blocks: list[tuple[int, int, int, int]] = field(
        default_factory=lambda: [(16, 2, 2, 2), (32, 1, 2, 2), (64, 2, 2, 2), (128, 2, 1, 1)]
    )
    #: The first this-many encoder blocks downsample with their first convolution's stride (the
    #: block's pool factors, 1 or 2) instead of a max-pool after the block: the convolution is
    #: computed at the lower resolution. 0 for the presets: at the cpu preset a strided first block
    #: trained 1.14x faster end to end on 2 cores but learned less per step, and ended a 60-minute
    #: budget at validation BLEU-4 74.4 against the max-pools' 75.6 (docs/experiments.md).
    strided_blocks: int = 0
    #: Each block's convolutions after its first add their input to their output (x + f(x), as in
    #: a ResNet's identity shortcut, before the ReLU): no new weights, and the first convolution,
    #: which changes the channel count, stays plain. False here so that model folders saved before
    #: it load as they were trained; the cpu preset turns it on (see `cpu_config`).
    residual: bool = False
    emb_dim: int = 64
    hidden_dim: int = 256
    attn_dim: int = 64
    cell: str = "lstm"  # "lstm" or "gru" (LSTM measured faster on CPU: benchmarks/results)
    dropout: float = 0.1
    #: "parallel": two recurrent layers, the first over tokens, attention from its states, the
    #: second over [state; context]; trained with fused calls over the whole sequence (see
    #: model.py). It reached validation BLEU 46.4 after 15 minutes of training on 2 cores where
    #: "feeding" (one layer fed [token; previous context], im2markup's input feeding, trained step
    #: by step) reached 23.0 after 15 and 42.5 after 30 (docs/experiments.md).
    decoder: str = "parallel"

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
        d.setdefault("decoder", "feeding")  # model folders saved before the parallel decoder existed
        if "enc_blocks" in d:
            d["enc_blocks"] = [tuple(int(x) for x in b) for b in d["enc_blocks"]]
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.decoder not in ("feeding", "parallel"):
            raise ModelError(f"model config: decoder must be 'feeding' or 'parallel', not {self.decoder!r}")
        if self.cell not in ("lstm", "gru"):
            raise ModelError(f"model config: cell must be 'lstm' or 'gru', not {self.cell!r}")
        if not 0 <= self.strided_blocks <= len(self.enc_blocks):
            raise ModelError(f"model config: strided_blocks must be 0 to {len(self.enc_blocks)} (the encoder's blocks)")
        if any(max(b[2], b[3]) > 2 for b in self.enc_blocks[: self.strided_blocks]):
            raise ModelError("model config: a strided block's pool factors must be 1 or 2 (its 3x3 stride)")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelError(f"model config: dropout must be at least 0 and below 1, not {self.dropout}")
        if min(self.emb_dim, self.hidden_dim, self.attn_dim) < 1:
            raise ModelError("model config: emb_dim, hidden_dim and attn_dim must be at least 1")
        if self.enc_dim % 4:
            raise ModelError("model config: last encoder channel count must be a multiple of 4")
        if not self.enc_blocks or any(len(b) != 4 or min(b) < 1 for b in self.enc_blocks):
            raise ModelError("model config: enc_blocks must be (channels, convs, pool_h, pool_w) with all >= 1")


def parse_enc_blocks(spec: str) -> list[tuple[int, int, int, int]]:
    """Encoder blocks from a command line: comma-separated CHANNELS:CONVS:POOL_HxPOOL_W, e.g.
    "16:1:2x2,32:1:2x2,64:1:2x4,128:1:1x1" (the cpu preset's, with a grid half as wide)."""
    blocks = []
    for part in spec.split(","):
        try:
            ch, convs, pool = part.strip().split(":")
            ph, pw = pool.lower().split("x")
            block = (int(ch), int(convs), int(ph), int(pw))
        except ValueError:
            raise ModelError(
                f"encoder block {part.strip()!r}: expected CHANNELS:CONVS:POOL_HxPOOL_W, e.g. 64:1:2x2"
            ) from None
        blocks.append(block)
    return blocks


def cpu_config(vocab_size: int = 0) -> ModelConfig:
    """Default: trains at a few hundred samples/s on 2 CPU cores (see benchmarks/bench_model.py).

    Its attention is 32 wide, not the dataclass's 64: the additive attention's tanh over (steps x
    grid cells x width) is the largest part of a CPU step, and at 32 a step runs ~1.4x faster for
    the same validation BLEU-4 or better over a 60-minute CPU budget
    (docs/experiments.md, 2026-11-26: "Attention width").

    Its encoder blocks are residual: the same weights and speed, and over the same 12,724-step
    schedule on 2 cores they reached validation BLEU-4 77.4 against 75.7 (greedy, first 500; 78.1
    against 76.7 and 39% of the accents read right against 38% on all 998), ahead at every mark
    (benchmarks/results/train_budget.md, 2026-11-27)."""
    return ModelConfig(vocab_size=vocab_size, attn_dim=32, residual=True)


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


def base_config(vocab_size: int = 0) -> ModelConfig:
    """Twice the encoder widths of `cpu_config` and a finer attention, for a GPU or a long CPU run;
    sized (2.3M parameters, 9 MB of weights) to ship in the repository and decode at tens of
    images per second on 2 CPU cores."""
    return ModelConfig(
        vocab_size=vocab_size,
        enc_blocks=[(32, 1, 2, 2), (64, 1, 2, 2), (128, 2, 2, 2), (256, 1, 1, 1)],
        attn_dim=128,
        dropout=0.2,
    )


PRESETS = {"cpu": cpu_config, "base": base_config, "paper": paper_config}
DEFAULT_PRESET = "cpu"
