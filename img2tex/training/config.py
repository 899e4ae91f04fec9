"""Training settings (`TrainConfig`), torch-free so the CLI can show their defaults without
importing torch. A run saves them in its config.json and in every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from img2tex.errors import ModelError


@dataclass
class TrainConfig:
    """Training settings; the one place their defaults live (the CLI passes only what a user set).

    Defaults follow im2markup (15 epochs, lr 1e-3 Adam, clip 5) except the batch."""

    #: 16, not im2markup's 24: on 2 CPU cores training is bound by updates, not images. Over the
    #: same 60 minutes, batch 16 took 22,495 steps (101 images/s) against batch 32's 12,386 (110/s)
    #: and reached validation BLEU-4 77.2 against 75.0 (docs/experiments.md). On a
    #: GPU pass a larger one (the recipe's GPU parts use 128).
    batch_size: int = 16
    #: Passes over the training data. None: no cap, for a run that a time or step budget ends
    #: (the command line's default when a budget is given without --epochs).
    epochs: int | None = 15
    lr: float = 1e-3
    min_lr: float = 1e-5  # cosine floor
    warmup_steps: int = 500
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    #: bf16 autocast: "auto" = on CUDA and on a CPU with native bf16 (AVX512-BF16/AMX), where one
    #: training step of the cpu preset ran ~1.4x faster single-threaded (2-core EPYC), off elsewhere;
    #: "on" = the same, refused on a CPU without native bf16 (`device.bf16_enabled`); "off".
    bf16: str = "auto"
    max_tokens: int = 150  # longer training formulas are skipped
    val_size: int = 500  # validation subset (first N items) for loss and greedy BLEU
    val_batch_size: int = 48
    decode_max_len: int = 200
    select_by: str = "bleu"  # bleu | loss: which checkpoint is "best"
    log_every: int = 50  # steps
    checkpoint_every: int = 1000  # steps
    #: DataLoader workers. Loading and preprocessing a render takes ~0.4 ms against ~11 ms of
    #: training per image (measured), so on 2 cores a worker only steals compute; use 2-4 on a GPU.
    num_workers: int = 0
    min_count: int = 1  # vocabulary: tokens seen fewer times become <unk>
    max_steps: int | None = None  # stop early (and checkpoint) after this many steps in total
    #: Stop (and checkpoint) after this many minutes of training in this invocation; a resume
    #: without it runs on (like max_steps, it limits one invocation, not the run).
    max_minutes: float | None = None
    #: Train for this many minutes in all (validation excluded): the cosine schedule runs over
    #: training time instead of `epochs` (which, if set, then only caps the run), and the run ends when
    #: the time is spent. For comparing configurations at equal cost; resumes are not bit-exact
    #: (time is not deterministic).
    time_budget: float | None = None
    #: Train for this many steps in all: the cosine schedule runs over them instead of `epochs`
    #: (which, if set, then only caps the run), and the run ends there. Like time_budget it compares
    #: configurations at a fixed cost, but it is deterministic: a run resumes exactly, and a fast
    #: machine can stand in for a slow one (the steps a 2-core CPU makes in an hour, trained on a
    #: GPU, follow the CPU run's schedule and data).
    step_budget: int | None = None
    #: images.preprocess scale: "auto" lets each dataset's layout decide (renders and packed data
    #: as stored, im2latex-100k's full pages and a user's own images at the model's glyph size:
    #: data.split.needs_rescale), 1.0 reads every image as stored, None estimates every one.
    scale: float | str | None = "auto"
    #: Half the training images resized by up to (1 + j)x either way, then read with the glyph-size
    #: estimate as predict reads them (data.pipeline.SplitDataset); 0 = off.
    scale_jitter: float = 0.0
    jitter_prob: float = 0.5
    #: "pen" warps most training images as handwriting varies (`data.augment`), for a handwritten
    #: model; "none" shows them as stored.
    augment: str = "none"
    #: Keep an exponential moving average of the weights with this decay, validate with it and
    #: write it to best/ (`training.ema`); 0 = off.
    ema_decay: float = 0.0
    #: Sequence-level training (`training.sequence`): the expected risk (token edit distance over
    #: the reference's length) over each image's `mrt_beam` best answers and its reference, added
    #: to the token loss with this weight; 0 = off. Each step then also decodes its batch.
    mrt_weight: float = 0.0
    mrt_beam: int = 4
    #: Sharpness of the candidates' distribution: softmax(alpha x summed token log-probability).
    mrt_alpha: float = 1.0
    #: Export best/ to ONNX when the run ends (not on Ctrl-C), so it predicts without torch.
    export: bool = True

    def __post_init__(self) -> None:
        if self.bf16 not in ("auto", "on", "off"):
            raise ModelError(f"bf16 must be auto, on or off, not {self.bf16!r}")
        if isinstance(self.scale, str) and self.scale != "auto":
            raise ModelError(f"scale must be a number, None or 'auto', not {self.scale!r}")
        from img2tex.data.augment import AUGMENTS

        if self.augment not in AUGMENTS:
            raise ModelError(f"augment must be one of {', '.join(AUGMENTS)}, not {self.augment!r}")
        if self.scale_jitter is None:  # runs saved before 0.2 wrote None for "off"
            self.scale_jitter = 0.0
        if not 0.0 <= self.ema_decay < 1.0:
            raise ModelError(f"ema decay must be at least 0 and below 1, not {self.ema_decay}")
        if self.mrt_weight < 0 or self.mrt_beam < 1 or self.mrt_alpha <= 0:
            raise ModelError(
                f"sequence-level training needs a weight >= 0, a beam >= 1 and alpha > 0, not "
                f"{self.mrt_weight}, {self.mrt_beam}, {self.mrt_alpha}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ModelError(f"label smoothing must be at least 0 and below 1, not {self.label_smoothing}")
        if self.step_budget is not None and self.time_budget is not None:
            raise ModelError("choose a time budget or a step budget, not both")
        if self.epochs is None and self.time_budget is None and self.step_budget is None:
            raise ModelError("a run without an epoch count needs a time or step budget to end it")
        if self.step_budget is not None and self.step_budget < 1:
            raise ModelError(f"step budget must be at least 1, not {self.step_budget}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: Settings a resumed run may change: they extend or re-aim the run, or only say where it runs.
#: Any other setting is fixed by the saved run (changing it would not continue the same run).
RESUME_CHANGEABLE = frozenset(
    {
        "epochs",
        "max_steps",
        "max_minutes",
        "scale_jitter",
        "checkpoint_every",
        "log_every",
        "device",
        "bf16",
        "num_workers",
        # a schedule may end with a sequence-level stage
        "mrt_weight",
        "mrt_beam",
        "mrt_alpha",
        # a budget may be lengthened or shortened, as epochs may (the schedule then runs over
        # the new total from where the run is); a run without one cannot gain one
        "time_budget",
        "step_budget",
    }
)
