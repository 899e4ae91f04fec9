"""`img2tex train`: a new run, a resumed one, or a fine-tuning from a model's weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from img2tex.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, RESCALE_BY_LAYOUT, app, console, fail, given
from img2tex.data.split import ConcatSplit, Split, needs_rescale
from img2tex.errors import ModelError
from img2tex.network.config import DEFAULT_PRESET
from img2tex.training.config import RESUME_CHANGEABLE, TrainConfig


# -------------------------------------------------------------------------------------- train
@app.command()
def train(
    data: Annotated[
        list[Path], typer.Argument(help="Training data: one or more dataset folders (any layout; packed is fastest).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: checkpoints (last/, best/), log.jsonl, loss.png.")
    ] = Path("runs/img2tex"),
    val: Annotated[
        Optional[Path], typer.Option(help="Validation data (loss and greedy BLEU each epoch; picks best/).")
    ] = None,
    split: Annotated[str, typer.Option(help="Split to read from DATA.")] = "train",
    val_split: Annotated[str, typer.Option(help="Split to read from --val.")] = "validate",
    vocab_path: Annotated[
        Optional[Path], typer.Option("--vocab", help="Token dictionary (default: built from DATA).")
    ] = None,
    preset: Annotated[
        Optional[str],
        typer.Option(
            help="Model size: 'cpu' (1.7M parameters, trains on a laptop), 'base' (2.3M, the default model's) "
            "or 'paper' (11M, im2markup-sized, for a GPU) "
            f"[default: {DEFAULT_PRESET}]."
        ),
    ] = None,
    decoder: Annotated[
        Optional[str],
        typer.Option(
            help="Decoder: 'feeding' (one LSTM fed the previous context, trained step by step) or 'parallel' "
            "(two LSTM layers trained with fused calls over the whole formula) [default: the preset's]."
        ),
    ] = None,
    attn_dim: Annotated[
        Optional[int],
        typer.Option(
            help="Width of the additive attention's hidden layer [default: the preset's]. Its tanh over "
            "(steps x grid cells x width) is the largest part of a CPU step: 32 trains ~1.4x faster than 64 "
            "(docs/experiments.md)."
        ),
    ] = None,
    dropout: Annotated[
        Optional[float],
        typer.Option(help="Dropout in the decoder, at least 0 and below 1 [default: the preset's]."),
    ] = None,
    enc_blocks: Annotated[
        Optional[str],
        typer.Option(
            help="Encoder blocks as CHANNELS:CONVS:POOL_HxPOOL_W, comma-separated, e.g. "
            "'16:1:2x2,32:1:2x2,64:1:2x4,128:1:1x1' (the cpu preset's with a grid half as wide) "
            "[default: the preset's]."
        ),
    ] = None,
    strided_blocks: Annotated[
        Optional[int],
        typer.Option(
            help="Encoder blocks (from the first) that downsample with a strided convolution instead of a "
            "max-pool: computed at the lower resolution, 1.14x faster on 2 cores for one block, but it learned "
            "less per CPU-hour (docs/experiments.md) [default: the preset's]."
        ),
    ] = None,
    residual: Annotated[
        Optional[bool],
        typer.Option(
            "--residual/--no-residual",
            help="Each encoder block's convolutions after its first add their input to their output "
            "(an identity shortcut, no new weights) [default: the preset's].",
        ),
    ] = None,
    epochs: Annotated[
        Optional[int],
        typer.Option(
            help=f"Passes over the training data [default: {TrainConfig.epochs}; with a budget, as many as it takes]."
        ),
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help=f"Images per step [default: {TrainConfig.batch_size}].")
    ] = None,
    lr: Annotated[
        Optional[float],
        typer.Option(help=f"Peak Adam learning rate (warm-up, then cosine decay) [default: {TrainConfig.lr:g}]."),
    ] = None,
    max_steps: Annotated[
        Optional[int], typer.Option(help="Stop (with a checkpoint) after this many steps in all.")
    ] = None,
    max_minutes: Annotated[
        Optional[float],
        typer.Option(help="Stop (with a checkpoint) after this many minutes of training in this invocation."),
    ] = None,
    time_budget: Annotated[
        Optional[float],
        typer.Option(
            help="Train for this many minutes in all: the learning-rate schedule runs over training time "
            "instead of --epochs, and the run ends when the time is spent (validation not counted). A resumed run "
            "may lengthen or shorten its budget."
        ),
    ] = None,
    step_budget: Annotated[
        Optional[int],
        typer.Option(
            help="Train for this many steps in all: the learning-rate schedule runs over them instead of "
            "--epochs, and the run ends there. Deterministic, unlike --time-budget: a GPU can replay the "
            "steps a CPU makes in an hour. A resumed run may lengthen or shorten its budget."
        ),
    ] = None,
    val_size: Annotated[
        Optional[int], typer.Option(help=f"Validation images used each epoch [default: {TrainConfig.val_size}].")
    ] = None,
    checkpoint_every: Annotated[
        Optional[int],
        typer.Option(
            help="Save last/ every N steps (and at each epoch end, and on Ctrl-C or SIGTERM) "
            f"[default: {TrainConfig.checkpoint_every}]."
        ),
    ] = None,
    device: Annotated[
        Optional[str], typer.Option(help=f"auto (CUDA when there is one), cpu or cuda [default: {TrainConfig.device}].")
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option(help=f"Seed of weights, batch order and dropout [default: {TrainConfig.seed}].")
    ] = None,
    bf16: Annotated[
        Optional[str],
        typer.Option(
            help="bf16 autocast: auto (on CUDA and on a CPU with native bf16, AVX512-BF16 or AMX, where it is "
            "faster; off elsewhere), on (the same, but an error on a CPU without native bf16), off "
            f"[default: {TrainConfig.bf16}]."
        ),
    ] = None,
    scale_jitter: Annotated[
        Optional[float],
        typer.Option(
            help="Show half the images resized by up to (1 + J)x either way and read back with the glyph-size "
            "rescale, as predict reads them, so the model copes with other resolutions (0 = off) [default: 0]."
        ),
    ] = None,
    augment: Annotated[
        Optional[str],
        typer.Option(
            help="none, or pen: warp most images as handwriting varies (slant, tilt, stretch, stroke weight, "
            "wobble), for a model of handwritten formulas [default: none]."
        ),
    ] = None,
    mrt_weight: Annotated[
        Optional[float],
        typer.Option(
            help="Sequence-level training: add the expected risk (token edit distance) over each image's "
            "n-best from the current weights, with this weight, to the token loss (0 = off; each step then "
            "also decodes its batch, several times slower) [default: 0]."
        ),
    ] = None,
    mrt_beam: Annotated[
        Optional[int], typer.Option(help=f"Candidates per image for --mrt-weight [default: {TrainConfig.mrt_beam}].")
    ] = None,
    ema_decay: Annotated[
        Optional[float],
        typer.Option(
            help="Keep an exponential moving average of the weights with this decay (e.g. 0.999), validate "
            "with it and write it to best/ (0 = off) [default: 0]."
        ),
    ] = None,
    label_smoothing: Annotated[
        Optional[float],
        typer.Option(
            help="Spread this share of each target token's probability over the other tokens, so the model "
            f"is less sure of itself (0 = off) [default: {TrainConfig.label_smoothing}]."
        ),
    ] = None,
    text_height: Annotated[
        Optional[float],
        typer.Option(
            help="Glyph size (px) images are brought to, for a new run or one started with --init-from: larger "
            "keeps more detail (handwriting) at more compute per image [default: the model's, 9.7 for a new one]."
        ),
    ] = None,
    init_from: Annotated[
        Optional[Path],
        typer.Option(
            help="Start from this model folder's weights, network, vocabulary and image settings with a fresh "
            "optimizer (fine-tuning; continuing a model whose run folder is gone). Not with --preset, --decoder "
            "or --vocab."
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option(
            help="Processes that load and preprocess images beside training (0 = in the training process; "
            f"a GPU needs several to be kept busy) [default: {TrainConfig.num_workers}]."
        ),
    ] = None,
    export: Annotated[
        Optional[bool],
        typer.Option(
            "--export/--no-export",
            help="Export best/ to ONNX when the run ends, for prediction without torch [default: export].",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out exactly where it stopped; only "
            f"{', '.join(sorted(RESUME_CHANGEABLE))} may change.",
        ),
    ] = False,
    normalize: Annotated[
        bool, typer.Option(help="Normalize raw im2latex formulas (im2latex_formulas.lst) first.")
    ] = False,
    rescale: Annotated[
        Optional[bool],
        typer.Option(
            "--rescale/--no-rescale",
            help="Bring every image to the model's glyph size as predict does, or read every image as stored "
            + RESCALE_BY_LAYOUT,
        ),
    ] = None,
) -> None:
    """Train a model with teacher forcing: token cross-entropy, Adam, gradient clipping, batches
    bucketed by image size and formula length.

    Checkpoints hold weights (safetensors), config and vocabulary; `best/` is a model folder for
    `eval` and `predict --model`. Ctrl-C or SIGTERM saves a checkpoint; `--resume` continues from it.

    **Examples**

      img2tex train data/train/packed --val data/val -o runs/small

      img2tex train data/train/packed -o runs/small --resume --epochs 20

      torchrun --nproc_per_node 4 -m img2tex.cli train data/train/packed --val data/val -o runs/big --preset paper
      (4 processes, e.g. 4 GPUs: each step sees 4 x --batch-size images)
    """
    from img2tex.data.layout import open_split
    from img2tex.decoding.engine import require_torch
    from img2tex.network.config import PRESETS, parse_enc_blocks

    require_torch("img2tex train")
    from img2tex.training.trainer import resume as resume_training
    from img2tex.training.trainer import train as run_training
    from img2tex.vocab import Vocab

    if preset is not None and preset not in PRESETS:
        raise fail(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", EXIT_USAGE)
    # The network and vocabulary: set by a new run, kept by --resume, taken from the model by --init-from.
    network_options = {
        "--preset": preset,
        "--decoder": decoder,
        "--attn-dim": attn_dim,
        "--enc-blocks": enc_blocks,
        "--strided-blocks": strided_blocks,
        "--residual": residual,
        "--dropout": dropout,
        "--vocab": vocab_path,
    }
    network_given = [name for name, value in network_options.items() if value is not None]
    if resume and (network_given or text_height is not None):
        given_names = network_given + (["--text-height"] if text_height is not None else [])
        raise fail(
            f"{', '.join(given_names)}: a resumed run keeps its own network, vocabulary and image settings", EXIT_USAGE
        )
    if text_height is not None and not text_height > 0:
        raise fail(f"--text-height must be a positive number of pixels, not {text_height}", EXIT_USAGE)
    if resume and init_from is not None:
        raise fail("--init-from starts a new run; --resume continues one", EXIT_USAGE)
    changes = given(
        batch_size=batch_size,
        epochs=epochs,
        lr=lr,
        max_steps=max_steps,
        max_minutes=max_minutes,
        time_budget=time_budget,
        step_budget=step_budget,
        val_size=val_size,
        checkpoint_every=checkpoint_every,
        device=device,
        seed=seed,
        bf16=bf16,
        scale_jitter=scale_jitter,
        label_smoothing=label_smoothing,
        ema_decay=ema_decay,
        augment=augment,
        mrt_weight=mrt_weight,
        mrt_beam=mrt_beam,
        num_workers=workers,
        export=export,
    )
    if not resume and epochs is None and (time_budget is not None or step_budget is not None):
        changes["epochs"] = None  # the budget ends the run, not the default epoch count
    if rescale is not None:  # None is a value here (estimate every image), so not through given()
        changes["scale"] = None if rescale else 1.0
    parts = [open_split(d, split, normalize=normalize) for d in data]
    train_split = parts[0] if len(parts) == 1 else ConcatSplit(parts)
    val_data = open_split(val, val_split, normalize=normalize) if val is not None else None
    rescaled = [str(d) for d, part in zip(data, parts) if _rescales(part)]
    if rescaled and rescale is not False:
        console.print(
            f"{', '.join(rescaled)}: images are brought to the model's glyph size as they are read, every "
            "epoch; `img2tex pack DATA --split S -o OUT` does it once and trains faster",
            highlight=False,
        )
    if resume:
        summary = resume_training(train_split, val_data, out, changes=changes)
    else:
        if init_from is not None:
            if network_given:
                raise fail(
                    f"{', '.join(network_given)}: --init-from takes the network and vocabulary from the model",
                    EXIT_USAGE,
                )
            image_cfg = None
            if text_height is not None:
                from dataclasses import replace

                from img2tex.network.folder import load_config

                image_cfg = replace(load_config(init_from)[1], text_height=text_height)
            summary = run_training(
                train_split, val_data, out, TrainConfig(**changes), init_from=init_from, image_cfg=image_cfg
            )
        else:
            voc = Vocab.load(vocab_path) if vocab_path is not None else None
            model_cfg = PRESETS[preset or DEFAULT_PRESET]()
            if decoder is not None:
                model_cfg.decoder = decoder
            if attn_dim is not None:
                model_cfg.attn_dim = attn_dim
            if dropout is not None:
                model_cfg.dropout = dropout
            try:
                if enc_blocks is not None:
                    model_cfg.enc_blocks = parse_enc_blocks(enc_blocks)
                if strided_blocks is not None:
                    model_cfg.strided_blocks = strided_blocks
                if residual is not None:
                    model_cfg.residual = residual
                model_cfg.validate()
            except ModelError as e:
                raise fail(str(e), EXIT_USAGE) from None
            from img2tex.images import ImageConfig

            image_cfg = ImageConfig(text_height=text_height) if text_height is not None else None
            summary = run_training(
                train_split, val_data, out, TrainConfig(**changes), model_cfg, image_cfg=image_cfg, vocab=voc
            )
    from img2tex.training.distributed import Dist

    if Dist.from_env().is_main:  # under torchrun, one report for all processes
        console.print(f"training {summary.get('status')}: step {summary.get('step')}, run folder {out}")
        typer.echo(json.dumps(summary, default=str))
    if summary.get("status") == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


def _rescales(split: Split) -> bool:
    """Whether `split`'s layout has its images rescaled as they are read (full pages, own images)."""
    return len(split) > 0 and needs_rescale(split, 0)
