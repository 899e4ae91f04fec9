"""Which layout a dataset path has, and opening it as a `Split` (or just its formulas).

Layouts, detected in this order: packed (`packed`), CROHME (`crohme`), im2latex-100k as distributed, processed
im2latex (what `img2tex render` writes), plain (images + labels.tsv), formulas only (im2latex's
val_test_normalized_by_idx.tsv). The readers live in `folders` and `packed`; this module only
chooses between them.
"""

from __future__ import annotations

from pathlib import Path

from img2tex.data.crohme import is_crohme, read_crohme
from img2tex.data.folders import (
    VAL_TEST_TSV,
    find_first,
    find_optional,
    plain_labels,
    read_formulas_tsv,
    read_im2latex,
    read_plain,
    read_processed,
)
from img2tex.data.packed import PackedSplit, is_packed
from img2tex.data.split import Split
from img2tex.errors import DatasetError
from img2tex.fileio import read_first_line


def detect_layout(path: str | Path, split: str | None = None) -> str:
    """'packed', 'crohme', 'im2latex', 'processed', 'plain' or 'formulas-tsv'; DatasetError if none."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p}: no such file or folder")
    if p.is_file():
        if p.suffix == ".tsv":
            return "formulas-tsv" if "norm_formula" in read_first_line(p).split("\t") else "plain"
        raise DatasetError(f"{p}: expected a dataset folder or a labels .tsv file")
    if is_packed(p):
        return "packed"
    if is_crohme(p):
        return "crohme"
    if (p / "im2latex_formulas.lst").exists():
        return "im2latex"
    if (p / "formulas.norm.lst").exists():
        return "processed"
    if plain_labels(p, split) is not None:
        return "plain"
    if find_optional(p, [VAL_TEST_TSV, f"formulas/{VAL_TEST_TSV}"]) is not None:
        return "formulas-tsv"
    raise DatasetError(
        f"{p}: not a dataset folder I know (looked for im2latex_formulas.lst, formulas.norm.lst, "
        "labels.tsv or a packed dataset)"
    )


def open_split(
    path: str | Path, split: str | None = None, normalize: bool = False, skip_missing: bool = False
) -> Split:
    """The examples of one split, whatever the layout (see the module docstring).

    ``path`` is a dataset folder, a packed dataset folder or a labels .tsv file. ``split`` is
    ignored for a labels file given directly and for a plain folder with only labels.tsv.
    ``normalize`` applies to raw im2latex formulas only (the other layouts hold labels as they
    should be predicted).
    """
    layout = detect_layout(path, split)
    p = Path(path)
    if layout == "packed":
        return PackedSplit(p)
    if layout == "plain":
        if p.is_file():
            return read_plain(p.parent, p, skip_missing=skip_missing)
        return read_plain(p, plain_labels(p, split), skip_missing=skip_missing)
    if split is None:
        raise DatasetError(f"{p}: this dataset has splits; name one (train, validate or test)")
    if layout == "im2latex":
        return read_im2latex(p, split, normalize=normalize, skip_missing=skip_missing)
    if layout == "processed":
        return read_processed(p, split, skip_missing=skip_missing)
    if layout == "crohme":
        return read_crohme(p, split)
    raise DatasetError(f"{p}: holds formulas only (no images); it can be used for the vocabulary")


def formulas_of(path: str | Path, split: str | None = None, normalize: bool = False) -> list[str]:
    """The formulas of one split, without needing its images (for `img2tex vocab`).

    Works on every layout of `open_split`, and also on a folder whose images are absent or
    that holds only im2latex's val_test_normalized_by_idx.tsv (directly or under formulas/).
    """
    layout = detect_layout(path, split)
    p = Path(path)
    if layout == "packed":
        ds = PackedSplit(p)
        return [ds.formula(i) for i in range(len(ds))]
    if layout == "plain":
        labels = p if p.is_file() else plain_labels(p, split)
        return [e.formula for e in read_plain(p.parent if p.is_file() else p, labels, images=False)]
    if split is None:
        raise DatasetError(f"{p}: this dataset has splits; name one (train, validate or test)")
    if layout == "im2latex":
        return [e.formula for e in read_im2latex(p, split, normalize=normalize, images=False)]
    if layout == "processed":
        return [e.formula for e in read_processed(p, split, images=False)]
    if layout == "crohme":
        return [e.formula for e in read_crohme(p, split, images=False)]
    tsv = p if p.is_file() else find_first(p, [VAL_TEST_TSV, f"formulas/{VAL_TEST_TSV}"], "formula table")
    return read_formulas_tsv(tsv, split)
