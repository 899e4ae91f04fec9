"""The `img2tex` command line: parse arguments, call the library, report.

Results go to stdout, messages and progress to stderr. Exit codes: 0 success, 1 an error
(reported as one line), 2 bad usage, 3 some inputs failed while the rest were done,
130 interrupted. Heavy modules (torch) are imported inside the commands that need them, so
`--help` and light commands start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from img2tex import __version__
from img2tex.architecture import DEFAULT_PRESET
from img2tex.corpus import CorpusConfig
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.errors import Img2TexError, ModelError
from img2tex.predict import BATCH_SIZE as PREDICT_BATCH_SIZE
from img2tex.progress import progress_bar, stderr_console
from img2tex.render import FONTS, RASTERIZERS, RenderConfig
from img2tex.trainconfig import RESUME_CHANGEABLE, TrainConfig

EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130
BEAM_HELP = "Beam width; 1 = greedy (fastest), 5 = a little more accurate."

app = typer.Typer(
    name="img2tex",
    help="Read an image of a mathematical formula and write the LaTeX that typesets it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = stderr_console()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"img2tex {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Read an image of a mathematical formula and write the LaTeX that typesets it.

    **Examples**

      img2tex predict formula.png

      img2tex predict scans/ --out tex/          (one .tex per image)

      find . -name '*.png' | img2tex predict - --json
    """


def _given(**options: Any) -> dict[str, Any]:
    """The options a user set: every option defaults to None ("not given"), so a config's own
    dataclass defaults stay the one source of defaults."""
    return {k: v for k, v in options.items() if v is not None}


def _writable_folder(folder: Path, option: str) -> None:
    """Make `folder` (and its parents) or fail in one line before any work is done."""
    import os

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(f"{option} {folder}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _fail(f"{option} {folder}: folder is not writable")


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


# ------------------------------------------------------------------------------------- render
@app.command()
def render(
    formulas: Annotated[Path, typer.Argument(help="Formula list: one LaTeX formula per line (split on \\n only).")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder (processed im2latex layout).")],
    split: Annotated[str, typer.Option(help="Split name for OUT/<split>_filter.lst.")] = "train",
    dpi: Annotated[
        Optional[int],
        typer.Option(
            help=f"Render resolution before the {RenderConfig.downsample}x downsampling [default: {RenderConfig.dpi}]."
        ),
    ] = None,
    downsample: Annotated[
        Optional[int],
        typer.Option(help=f"Integer shrink after cropping and padding [default: {RenderConfig.downsample}]."),
    ] = None,
    font: Annotated[
        Optional[str],
        typer.Option(
            help=f"Font family: {', '.join(FONTS)} (all but cm need TeX font packages) [default: {RenderConfig.font}]."
        ),
    ] = None,
    rasterizer: Annotated[
        Optional[str],
        typer.Option(
            help=f"How formulas become pixels: {', '.join(RASTERIZERS)} (dvipng draws latex's DVI; gs and "
            "pdftoppm draw pdflatex's PDF, with bolder strokes; katex draws them as a web page does, in "
            f"headless Chromium) [default: {RenderConfig.rasterizer}]."
        ),
    ] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Parallel latex processes (0 = all cores) [default: 0].")] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help=f"Formulas per latex run [default: {RenderConfig.batch_size}].")
    ] = None,
    packed: Annotated[
        Optional[bool],
        typer.Option(
            "--packed/--no-packed",
            help="Also write OUT/packed, the compact form the trainer reads fastest [default: no-packed].",
        ),
    ] = None,
    names_file: Annotated[
        Optional[Path],
        typer.Option("--names", help="File of image names, one per formula line (default: a hash of the formula)."),
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option(help=f"Seed of the augmentation draws [default: {RenderConfig.seed}].")
    ] = None,
    dpi_jitter: Annotated[
        Optional[float], typer.Option(help="Augment: scale each image by a factor in [1-j, 1+j] [default: off].")
    ] = None,
    extra_pad: Annotated[
        Optional[int], typer.Option(help="Augment: up to this many extra white pixels per side [default: off].")
    ] = None,
    blur: Annotated[
        Optional[float], typer.Option(help="Augment: Gaussian blur, sigma up to this [default: off].")
    ] = None,
    noise: Annotated[
        Optional[float], typer.Option(help="Augment: pixel noise, std up to this (grey levels) [default: off].")
    ] = None,
    jpeg_quality: Annotated[
        Optional[int], typer.Option(help="Augment: JPEG round trip at quality >= this (0 = off) [default: off].")
    ] = None,
    gamma: Annotated[
        Optional[float],
        typer.Option(help="Augment: raise the anti-aliased ink to a power in [e^-g, e^g] [default: off]."),
    ] = None,
    stroke: Annotated[
        Optional[float],
        typer.Option(
            help="Augment: thicken strokes by up to this many px per side at render resolution, or thin them "
            "by up to half that [default: off]."
        ),
    ] = None,
    colour: Annotated[
        Optional[float],
        typer.Option(
            help="Augment: this fraction of images in colour or dark mode, on plain or shaded backgrounds, read "
            "back as predict reads a user's image [default: off]."
        ),
    ] = None,
    rescale: Annotated[
        Optional[bool],
        typer.Option(
            "--rescale/--no-rescale",
            help="Bring each image to the model's glyph size as predict does (for renders at other dpi than "
            "the default) [default: no-rescale].",
        ),
    ] = None,
    retry_failed: Annotated[
        Optional[bool],
        typer.Option(
            "--retry-failed",
            help="On a rerun, give TeX the formulas it rejected last time again (e.g. after installing a package).",
        ),
    ] = None,
) -> None:
    """Render a formula list to images with LaTeX, as im2latex-100k's processed images look.

    Many formulas go through one `latex` run, all cores are used, images already in OUT_DIR are
    kept (a rerun resumes, and does not retry formulas that failed to compile unless
    --retry-failed), and a formula that does not compile is skipped and listed in
    OUT/render_report.json. Formulas that read or write files or run commands are refused.
    Needs Debian's texlive-latex-base, preview-latex-style and dvipng.

    **Examples**

      img2tex render formulas.lst data/train --split train --packed

      img2tex render test.lst data/test-jpeg --split test --jpeg-quality 60

      img2tex render train.lst data/train-gs --rasterizer gs --stroke 1 --gamma 0.5 --colour 0.2

      img2tex render train.lst data/train-screen --dpi 90 --downsample 1 --rescale

      img2tex render train.lst data/train-web --rasterizer katex (KaTeX in headless Chromium)
    """
    from img2tex.fileio import read_lines
    from img2tex.render import render_formulas

    lines = read_lines(formulas)
    if not lines:
        raise _fail(f"{formulas}: no formulas")
    names = read_lines(names_file) if names_file else None
    cfg = RenderConfig(
        **_given(
            dpi=dpi,
            font=font,
            jobs=jobs,
            batch_size=batch_size,
            write_packed=packed,
            seed=seed,
            dpi_jitter=dpi_jitter,
            extra_pad=extra_pad,
            blur=blur,
            noise=noise,
            jpeg_quality=jpeg_quality,
            rasterizer=rasterizer,
            gamma=gamma,
            stroke=stroke,
            colour=colour,
            rescale=rescale,
            downsample=downsample,
            retry_failed=retry_failed,
        )
    )
    cfg.validate()  # bad settings: one line, before any progress bar
    with progress_bar("rendering", len(lines), console) as advance:
        report = render_formulas(lines, out_dir, cfg, names=names, split=split, progress=advance)
    console.print(
        f"{report.ok} of {report.total} formulas rendered ({report.skipped_existing} already there), "
        f"{len(report.failed)} failed, {report.seconds:.1f} s; report: {out_dir / 'render_report.json'}"
    )
    for failure in report.failed[:5]:
        console.print(f"  failed #{failure['index']}: {failure['reason']}", highlight=False)
    typer.echo(json.dumps({k: v for k, v in report.to_dict().items() if k != "failed"}))
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


# -------------------------------------------------------------------------------------- vocab
@app.command()
def vocab(
    data: Annotated[
        list[Path], typer.Argument(help="Dataset folders (any supported layout); several are counted together.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the JSON dictionary.")] = Path("vocab.json"),
    split: Annotated[str, typer.Option(help="Split whose tokens are counted.")] = "train",
    min_count: Annotated[int, typer.Option(help="Tokens seen fewer times become <unk>.")] = TrainConfig.min_count,
    val_split: Annotated[str, typer.Option(help="Split on which coverage is reported ('' to skip).")] = "validate",
    normalize: Annotated[
        bool, typer.Option(help="Normalize raw formulas first (im2latex_formulas.lst is raw).")
    ] = False,
) -> None:
    """Count tokens of a split and write the token dictionary (special tokens, stable ids, counts).

    Prints size, coverage and unknown-token rate on the validation split.

    **Examples**

      img2tex vocab data/im2latex-100k --split train --min-count 2 -o vocab.json

      img2tex vocab data/train_a data/train_b --min-count 2 -o vocab.json --val-split ''
    """
    from rich.table import Table

    from img2tex.data.layout import formulas_of
    from img2tex.tokenizer import tokenize
    from img2tex.vocab import build_vocab, coverage

    train_formulas = [f for d in data for f in formulas_of(d, split, normalize=normalize)]
    if not train_formulas:
        raise _fail(f"{', '.join(map(str, data))}: no formulas in split {split!r}")
    voc = build_vocab((tokenize(f) for f in train_formulas), min_count=min_count)
    voc.save(out)
    table = Table(title=f"vocabulary {out}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("formulas counted", f"{len(train_formulas):,}")
    table.add_row("tokens (with 4 specials)", f"{len(voc):,}")
    summary = {"size": len(voc), "formulas": len(train_formulas)}
    if val_split:
        cov = coverage(voc, (tokenize(f) for d in data for f in formulas_of(d, val_split, normalize=normalize)))
        table.add_row(f"{val_split}: token coverage", f"{cov['token_coverage']:.2%}")
        table.add_row(f"{val_split}: unknown-token rate", f"{cov['unknown_rate']:.3%}")
        table.add_row(f"{val_split}: formulas without unknowns", f"{cov['formula_coverage']:.2%}")
        summary.update({k: cov[k] for k in ("token_coverage", "unknown_rate", "formula_coverage")})
    console.print(table)
    typer.echo(json.dumps(summary))


# ------------------------------------------------------------------------------------- corpus
@app.command()
def corpus(
    out_dir: Annotated[Path, typer.Argument(help="Folder for train.lst, val.lst, test.lst and the report.")],
    data_dir: Annotated[
        Optional[Path],
        typer.Option(
            envvar="IMG2TEX_DATA",
            help="The shared data folder (holding im2latex-100k/, formula-corpus/, hepth-formulas/); "
            "or set IMG2TEX_DATA.",
        ),
    ] = None,
    n_synthetic: Annotated[
        Optional[int], typer.Option(help=f"How many synthetic formulas to add [default: {CorpusConfig.n_synthetic:,}].")
    ] = None,
    hepth: Annotated[
        Optional[bool], typer.Option("--hepth/--no-hepth", help="Use the hep-th formulas [default: hepth].")
    ] = None,
    formula_corpus: Annotated[
        Optional[bool],
        typer.Option(
            "--formula-corpus/--no-formula-corpus",
            help="Use the documentation formula corpus [default: formula-corpus].",
        ),
    ] = None,
    val_holdout: Annotated[
        Optional[int],
        typer.Option(
            help=f"im2latex validate formulas kept out for model selection [default: {CorpusConfig.val_holdout:,}]."
        ),
    ] = None,
    seed: Annotated[
        Optional[int], typer.Option(help=f"Seed of the hold-out and the generator [default: {CorpusConfig.seed}].")
    ] = None,
    max_tokens: Annotated[
        Optional[int],
        typer.Option(help=f"Longer formulas are dropped (im2markup: 150) [default: {CorpusConfig.max_tokens}]."),
    ] = None,
) -> None:
    """Assemble the training formula set (the recipe of the default model), reproducibly.

    Normalizes, filters and deduplicates im2latex validate formulas (less a held-out 1,000), the
    sample's train formulas, the formula corpus, the hep-th formulas and synthetic ones, and
    removes every formula that matches a test or held-out formula in any spelling.

    **Example**

      img2tex corpus work/corpus --data-dir ../shared/data && img2tex render work/corpus/train.lst work/train --packed
    """
    from img2tex.corpus import build_corpus

    if data_dir is None:
        raise _fail("corpus needs the shared data folder: pass --data-dir DIR or set IMG2TEX_DATA", 2)
    cfg = CorpusConfig(
        data_dir,
        **_given(
            n_synthetic=n_synthetic,
            val_holdout=val_holdout,
            seed=seed,
            max_tokens=max_tokens,
            use_hepth=hepth,
            use_formula_corpus=formula_corpus,
        ),
    )
    with progress_bar("assembling", None, console) as advance:
        report = build_corpus(cfg, out_dir, progress=advance)
    console.print(f"corpus written to {out_dir}; counts per source in {out_dir / 'corpus_report.json'}")
    typer.echo(json.dumps(report))


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
            "(benchmarks/results/bench_model_attn.md)."
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
            "less per CPU-hour (benchmarks/results/train_budget.md) [default: the preset's]."
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
        Optional[int], typer.Option(help=f"Passes over the training data [default: {TrainConfig.epochs}].")
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
            "instead of --epochs, and the run ends when the time is spent (validation not counted)."
        ),
    ] = None,
    step_budget: Annotated[
        Optional[int],
        typer.Option(
            help="Train for this many steps in all: the learning-rate schedule runs over them instead of "
            "--epochs, and the run ends there. Deterministic, unlike --time-budget: a GPU can replay the "
            "steps a CPU makes in an hour."
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
            help="bf16 autocast: auto (on CUDA only), on (also on a CPU with native bf16 such as AVX512-BF16, "
            f"where it is faster), off [default: {TrainConfig.bf16}]."
        ),
    ] = None,
    scale_jitter: Annotated[
        Optional[float],
        typer.Option(
            help="Show half the images resized by up to (1 + J)x either way and read back with the glyph-size "
            "rescale, as predict reads them, so the model copes with other resolutions (0 = off) [default: 0]."
        ),
    ] = None,
    label_smoothing: Annotated[
        Optional[float],
        typer.Option(
            help="Spread this share of each target token's probability over the other tokens, so the model "
            f"is less sure of itself (0 = off) [default: {TrainConfig.label_smoothing}]."
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
    from img2tex.architecture import PRESETS, parse_enc_blocks
    from img2tex.data.layout import open_split, open_splits
    from img2tex.decoding.engine import require_torch

    require_torch("img2tex train")
    from img2tex.train import resume as resume_training
    from img2tex.train import train as run_training
    from img2tex.vocab import Vocab

    if preset is not None and preset not in PRESETS:
        raise _fail(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", 2)
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
    if resume and network_given:
        raise _fail(f"{', '.join(network_given)}: a resumed run keeps its own network and vocabulary", 2)
    if resume and init_from is not None:
        raise _fail("--init-from starts a new run; --resume continues one", 2)
    given = _given(
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
        num_workers=workers,
        export=export,
    )
    train_split = open_splits(data, split, normalize=normalize)
    val_data = open_split(val, val_split, normalize=normalize) if val is not None else None
    if resume:
        summary = resume_training(train_split, val_data, out, changes=given)
    else:
        if init_from is not None:
            if network_given:
                raise _fail(
                    f"{', '.join(network_given)}: --init-from takes the network and vocabulary from the model", 2
                )
            summary = run_training(train_split, val_data, out, TrainConfig(**given), init_from=init_from)
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
                raise _fail(str(e), 2) from None
            summary = run_training(train_split, val_data, out, TrainConfig(**given), model_cfg, vocab=voc)
    from img2tex.distributed import Dist

    if Dist.from_env().is_main:  # under torchrun, one report for all processes
        console.print(f"training {summary.get('status')}: step {summary.get('step')}, run folder {out}")
        typer.echo(json.dumps(summary, default=str))
    if summary.get("status") == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


# --------------------------------------------------------------------------------------- eval
@app.command("eval")
def evaluate_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder (any layout) holding the split to score.")],
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the shipped model).")] = None,
    split: Annotated[str, typer.Option(help="Split to decode.")] = "test",
    beam: Annotated[int, typer.Option(help=BEAM_HELP)] = DecodeConfig.beam,
    limit: Annotated[Optional[int], typer.Option(help="Score only the first N images.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images decoded together [default: 32].")] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Folder for predictions.tsv and report.json.")
    ] = None,
    rescale: Annotated[
        bool,
        typer.Option(
            "--rescale/--no-rescale",
            help="Estimate each image's glyph size and rescale it (for images not rendered like the training data).",
        ),
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    engine: Annotated[
        str,
        typer.Option(
            help="onnx (ONNX Runtime, CPU, no torch), torch (needs img2tex[train]; CPU or CUDA) or auto "
            "(onnx on the CPU when the model folder has an export)."
        ),
    ] = "auto",
    normalize: Annotated[bool, typer.Option(help="Normalize raw im2latex formulas first.")] = False,
    image_match: Annotated[
        bool,
        typer.Option(
            "--image-match",
            help="Also render each prediction and its reference (needs LaTeX) and report im2markup's "
            "image-match accuracy and the share of predictions that do not compile.",
        ),
    ] = False,
) -> None:
    """Decode a split and score it: BLEU-4, token edit distance, edit accuracy, exact match.

    BLEU-4 is sacrebleu's corpus BLEU over the space-separated normalized tokens (no further
    tokenization); edit accuracy is im2markup's 1 - sum(lev) / sum(max(len_ref, len_hyp)) over
    tokens. The table goes to stderr, the JSON report to stdout.

    **Examples**

      img2tex eval data/test --split test --beam 5 -o results/test-beam5

      img2tex eval data/im2latex-100k --split test --normalize --limit 500

      img2tex eval data/test --split test --image-match --limit 1000
    """
    from rich.table import Table

    from img2tex.data.layout import open_split
    from img2tex.evaluate import evaluate
    from img2tex.predict import default_model_dir

    data_split = open_split(data, split, normalize=normalize)
    if len(data_split) == 0:
        raise _fail(f"{data}: split {split!r} is empty")
    report = evaluate(
        model if model is not None else default_model_dir(),
        data_split,
        beam=beam,
        limit=limit,
        out_dir=out,
        device=device,
        scale=None if rescale else 1.0,
        engine=engine,
        image_match=image_match,
        **_given(batch_size=batch_size),
    )
    table = Table(title=f"{split}: {report['count']} images, beam {beam}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("BLEU-4", f"{report['bleu']:.2f}")
    table.add_row("edit accuracy (im2markup)", f"{report['edit_accuracy']:.2%}")
    table.add_row("mean normalized edit distance", f"{report['mean_edit_distance']:.4f}")
    table.add_row("exact match", f"{report['exact_match']:.2%}")
    if "image_match" in report:
        im = report["image_match"]
        table.add_row("image match (im2markup)", f"{im['accuracy']:.2%}")
        table.add_row("predictions that do not compile", f"{im['not_compiled']:.2%}")
    table.add_row("images/s", f"{report['images_per_s']:.1f}")
    console.print(table)
    typer.echo(json.dumps(report))


# ------------------------------------------------------------------------------------ predict
@app.command()
def predict(
    images: Annotated[
        list[str], typer.Argument(help="Image files or folders (searched recursively); '-' reads paths from stdin.")
    ],
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the shipped model).")] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Write one .tex per image here (mirroring names) instead of printing."),
    ] = None,
    beam: Annotated[int, typer.Option(help=BEAM_HELP)] = DecodeConfig.beam,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="latex: readable LaTeX, as a person writes it (x^{2} - 4ac); tokens: the normalized "
            "token form, as im2latex-100k spells formulas (x ^ { 2 } - 4 a c).",
        ),
    ] = "latex",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON line per image: path, latex (readable), tokens, score (or error)."),
    ] = False,
    attention: Annotated[
        Optional[Path],
        typer.Option(
            help="Also write DIR/<image name>.png: for each output token, where the model looked (its "
            "attention over the image), one labelled panel per token."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images decoded together.")] = PREDICT_BATCH_SIZE,
    scale: Annotated[
        Optional[float], typer.Option(help="Rescale factor instead of the automatic glyph-size estimate.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    engine: Annotated[
        str,
        typer.Option(
            help="onnx (ONNX Runtime, CPU, no torch), torch (needs img2tex[train]; CPU or CUDA) or auto "
            "(onnx on the CPU when the model folder has an export)."
        ),
    ] = "auto",
) -> None:
    """Read formula images and write their LaTeX.

    One image prints its LaTeX on stdout. Several images print one line each, prefixed with
    the path (or use --json, or --out DIR to get .tex files). A bad image gets an error line on
    stderr and the rest go on; the exit code is then 3.

    **Examples**

      img2tex predict formula.png

      img2tex predict formula.png --format tokens

      img2tex predict formula.png --attention att/    (att/formula.png: where each token was read)

      img2tex predict scans/ --out tex/ --beam 1    (greedy: fastest)

      find . -name '*.png' | img2tex predict - --json > results.jsonl
    """
    from img2tex.predict import FORMATS, Img2Tex

    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    paths: list[str] = []
    for item in images:
        if item == "-":
            paths.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            paths.append(item)
    if not paths:
        raise _fail("no images given")
    for p in paths:
        if Path(p).is_dir() and not any(Path(p).rglob("*.*")):
            raise _fail(f"{p}: folder is empty")
    for folder, option in ((out, "--out"), (attention, "--attention")):
        if folder is not None:
            _writable_folder(folder, option)
    reader = Img2Tex(model, device=device, beam=beam, batch_size=batch_size, scale=scale, engine=engine)
    single = len(paths) == 1 and not Path(paths[0]).is_dir()
    failed = done = 0
    for res in reader.predict_paths(paths, out_dir=out, fmt=fmt, attention_dir=attention):
        if not res.ok:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"path": str(res.path), "error": res.error}))
            console.print(f"[red]error:[/red] {escape(res.error or '')}", highlight=False, soft_wrap=True)
            continue
        done += 1
        text = res.latex if fmt == "latex" else res.tokens
        if as_json:
            record = {
                "path": str(res.path),
                "latex": res.latex,
                "tokens": res.tokens,
                "score": round(res.score or 0.0, 4),
            }
            typer.echo(json.dumps(record))
        elif out is not None:
            console.print(f"{res.path} -> {res.tex_path}", highlight=False)
        elif single:
            typer.echo(text)
        else:
            typer.echo(f"{res.path}\t{text}")
    if done == 0 and failed == 0:
        raise _fail("no images found (looked for .png, .jpg, .jpeg)")
    if failed:
        raise typer.Exit(EXIT_ERROR if done == 0 else EXIT_PARTIAL)


# -------------------------------------------------------------------------------------- serve
@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it to this machine, 0.0.0.0 opens it to all.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    model: Annotated[Optional[Path], typer.Option(help="Model folder (default: the shipped model).")] = None,
    beam: Annotated[int, typer.Option(help=BEAM_HELP)] = DecodeConfig.beam,
    max_upload_mb: Annotated[float, typer.Option(help="Largest upload accepted, in MB.")] = 10.0,
    engine: Annotated[str, typer.Option(help="onnx, torch or auto (as for predict).")] = "auto",
) -> None:
    """Serve a local web page and JSON API: paste, drop or pick a formula image and get its LaTeX.

    The page shows the LaTeX, a rendered preview (KaTeX, shipped in the package: it works
    offline), a copy button and the confidence. The API: POST /predict with the image as the
    multipart field 'image' or as the raw body answers {"latex", "tokens", "score",
    "confidence"}; an unreadable or oversized upload gets a 4xx {"error"}. The model loads once.

    **Examples**

      img2tex serve                 (then open http://127.0.0.1:8000)

      curl -F image=@formula.png http://127.0.0.1:8000/predict

      curl --data-binary @formula.png http://127.0.0.1:8000/predict
    """
    if not 0 <= port < 65536:
        raise _fail(f"--port must be between 0 (any free port) and 65535, not {port}")
    if max_upload_mb <= 0:
        raise _fail("--max-upload-mb must be positive")
    import socket

    import uvicorn

    from img2tex.predict import Img2Tex
    from img2tex.web.app import create_app

    # Bind first, so that a taken port or a bad address is our one-line error (not uvicorn's log),
    # before the model loads.
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        raise _fail(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc})") from None
    web = create_app(Img2Tex(model, beam=beam, engine=engine), max_upload_bytes=int(max_upload_mb * 1024 * 1024))
    console.print(f"img2tex serving on http://{host}:{sock.getsockname()[1]} (Ctrl-C stops)", highlight=False)
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])


# ------------------------------------------------------------------------------------- export
@app.command("export")
def export_command(
    model: Annotated[Path, typer.Argument(help="Model folder (model.safetensors, config.json, vocab.json).")],
) -> None:
    """Export a model folder's network to ONNX (encoder.onnx, decoder_step.onnx, export.json)
    beside its weights, so that it predicts on ONNX Runtime without torch.

    Training exports best/ when a run ends; use this for any other model folder, e.g. after
    copying weights by hand. Needs torch (pip install "img2tex[train]").

    **Example**

      img2tex export runs/small/best && img2tex predict formula.png --model runs/small/best
    """
    from img2tex.decoding.engine import require_torch

    require_torch("img2tex export")
    from img2tex.export import export_model

    manifest = export_model(model)
    console.print(f"exported {model} (weights sha256 {manifest['weights_sha256'][:12]}...)", highlight=False)
    typer.echo(json.dumps({"model": str(model), **manifest}))


def main() -> None:
    """Console-script entry point: one-line errors instead of tracebacks."""
    try:
        app()
    except Img2TexError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:  # a disk that fills or a folder that vanishes mid-run: one line, no traceback
        where = f": {exc.filename}" if exc.filename else ""
        console.print(
            f"[red]error:[/red] {escape((exc.strerror or str(exc)) + where)}", highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
