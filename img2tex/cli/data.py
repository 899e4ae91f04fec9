"""`img2tex vocab`, `img2tex corpus` and `img2tex pack`: the token dictionary, the training formula
set, and any split packed for training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from img2tex.cli.common import EXIT_PARTIAL, EXIT_USAGE, RESCALE_BY_LAYOUT, app, console, fail, given
from img2tex.formulas.corpus import CorpusConfig
from img2tex.progress import progress_bar
from img2tex.training.config import TrainConfig


# -------------------------------------------------------------------------------------- vocab
@app.command()
def vocab(
    data: Annotated[
        list[Path], typer.Argument(help="Dataset folders (any supported layout); several are counted together.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the JSON dictionary.")] = Path("vocab.json"),
    split: Annotated[str, typer.Option(help="Split whose tokens are counted.")] = "train",
    min_count: Annotated[int, typer.Option(help="Tokens seen fewer times become `<unk>`.")] = TrainConfig.min_count,
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
        raise fail(f"{', '.join(map(str, data))}: no formulas in split {split!r}")
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
    from img2tex.formulas.corpus import build_corpus

    if data_dir is None:
        raise fail("corpus needs the shared data folder: pass --data-dir DIR or set IMG2TEX_DATA", EXIT_USAGE)
    cfg = CorpusConfig(
        data_dir,
        **given(
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


# --------------------------------------------------------------------------------------- pack
@app.command()
def pack(
    data: Annotated[Path, typer.Argument(help="Dataset folder (any layout) holding the split to pack.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the packed split (created).")],
    split: Annotated[str, typer.Option(help="Split to pack.")] = "train",
    rescale: Annotated[
        Optional[bool],
        typer.Option(
            "--rescale/--no-rescale",
            help="Bring every image to the model's glyph size as predict does, or store every image as it is "
            + RESCALE_BY_LAYOUT,
        ),
    ] = None,
    model: Annotated[
        Optional[Path],
        typer.Option(
            help="Take the glyph size and size limits from this model (a folder or a shipped model's name) "
            "[default: default]."
        ),
    ] = None,
    levels: Annotated[
        Optional[int], typer.Option(help="Grey levels kept per pixel, 2..256 [default: 4, as render --packed].")
    ] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Parallel processes (0 = all cores) [default: 0].")] = None,
    normalize: Annotated[
        bool, typer.Option(help="Normalize raw formulas first (im2latex_formulas.lst is raw).")
    ] = False,
) -> None:
    """Preprocess a split of any layout once into the packed form the trainer reads fastest.

    im2latex-100k as distributed holds full A4 pages with glyphs twice the model's size: they are
    cropped and brought to the model's glyph size as `predict` reads them, then stored, so that
    training never decodes a page again. Resumable: an interrupted run continues where it stopped.

    **Examples**

      img2tex pack data/im2latex-100k --split train --normalize -o data/train/packed

      img2tex train data/train/packed --val data/val/packed -o runs/small
    """
    import os

    from img2tex.data.layout import open_split
    from img2tex.data.packed import DEFAULT_LEVELS
    from img2tex.data.packing import pack_split
    from img2tex.network.folder import load_config
    from img2tex.predict import resolve_model

    source = open_split(data, split, normalize=normalize)
    if len(source) == 0:
        raise fail(f"{data}: split {split!r} is empty")
    n_levels = DEFAULT_LEVELS if levels is None else levels
    if not 2 <= n_levels <= 256:
        raise fail(f"--levels must be in 2..256, not {n_levels}", EXIT_USAGE)
    _, image_cfg, _ = load_config(resolve_model(model))
    scale = "auto" if rescale is None else (None if rescale else 1.0)
    processes = jobs if jobs else (os.cpu_count() or 1)
    with progress_bar(f"packing {split}", len(source), console) as advance:
        report = pack_split(source, out, image_cfg, scale=scale, levels=n_levels, processes=processes, progress=advance)
    console.print(
        f"{report.packed} of {report.total} images packed into {out} ({report.rescaled} rescaled, "
        f"{report.resumed} from an earlier run, {len(report.skipped)} unreadable)",
        highlight=False,
    )
    for reason in report.skipped[:5]:
        console.print(f"  skipped {reason}", highlight=False)
    typer.echo(json.dumps(report.to_dict()))
    if report.skipped:
        raise typer.Exit(EXIT_PARTIAL)
