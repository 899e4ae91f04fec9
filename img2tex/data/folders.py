"""Readers of the folder layouts users have; each returns a `FolderSplit`.

- **im2latex-100k as distributed**: ``im2latex_formulas.lst`` (line i = raw formula i),
  ``im2latex_{split}.lst`` (lines ``formula_idx image_name render_type``), ``formula_images/``.
- **processed im2latex** (also what ``img2tex render`` writes): ``formulas.norm.lst``,
  ``im2latex_{split}_filter.lst`` or ``{split}_filter.lst`` (lines ``image.png formula_idx``),
  ``images_processed/`` (or ``formula_images_processed/``).
- **plain**: a folder of images plus ``labels.tsv`` (``image<TAB>formula`` per line); per-split
  files ``{split}.tsv`` / ``labels_{split}.tsv`` win over ``labels.tsv`` when present.
- **formulas only**: im2latex's ``val_test_normalized_by_idx.tsv`` (columns ``formula_idx split
  image_name source norm_formula``), for commands that need no images.

Formulas are returned as written in the files; raw im2latex formulas can be normalized on
reading (``normalize=True``). Images are loaded lazily, one at a time, with
`images.load_image` (not preprocessed), so a split of 100k images costs only its lists.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from img2tex.data.split import canonical_split, split_spellings
from img2tex.errors import DatasetError, FormulaError, ImageError
from img2tex.fileio import read_lines
from img2tex.images import load_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VAL_TEST_TSV = "val_test_normalized_by_idx.tsv"
# How many missing image names an error message lists before "...".
SHOW_MISSING = 3


class DatasetWarning(UserWarning):
    """Examples were skipped (missing images, formulas that failed to normalize)."""


@dataclass(frozen=True)
class Example:
    """One labelled image: ``formula`` as the labels file has it, ``image_path`` None if unknown."""

    name: str
    formula: str
    image_path: Path | None


@dataclass
class FolderSplit(Sequence[Example]):
    """A `Split` held as a list of `Example` (images read from their files on demand).

    ``skipped`` counts examples left out, by reason (e.g. ``{"missing image": 3}``), so that the
    CLI can report them; ``source`` says which files the examples came from. ``rescale`` says
    whether the images must be brought to the model's glyph size (`split.needs_rescale`): True
    for im2latex-100k's full pages and for plain folders of a user's images, False for renders
    in the processed look.
    """

    examples: list[Example]
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)
    rescale: bool = False

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i):  # type: ignore[override]
        return self.examples[i]

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def formula(self, i: int) -> str:
        return self.examples[i].formula

    def name(self, i: int) -> str:
        return self.examples[i].name

    def _path(self, i: int) -> Path:
        p = self.examples[i].image_path
        if p is None:
            raise DatasetError(f"{self.source}: example {self.examples[i].name!r} has no image")
        return p

    def image(self, i: int) -> np.ndarray:
        return load_image(self._path(i))

    def shape(self, i: int) -> tuple[int, int]:
        """(height, width) from the image header, without decoding pixels."""
        p = self._path(i)
        try:
            with Image.open(p) as im:
                w, h = im.size
        except FileNotFoundError:
            raise ImageError(f"{p}: no such file") from None
        except OSError as exc:
            raise ImageError(f"{p}: not a readable image ({exc})") from None
        return h, w


# ---------------------------------------------------------------- helpers


def find_first(root: Path, candidates: list[str], what: str) -> Path:
    """First existing root/candidate; DatasetError naming everything looked for."""
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    shown = ", ".join(candidates[:4]) + (" ..." if len(candidates) > 4 else "")
    raise DatasetError(f"{root}: no {what} found (looked for {shown})")


def find_optional(root: Path, candidates: list[str]) -> Path | None:
    """First existing root/candidate, or None."""
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    return None


def _check_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return root


def _formula_at(formulas: list[str], idx_text: str, list_file: Path, lineno: int, formulas_file: Path) -> str:
    try:
        idx = int(idx_text)
    except ValueError:
        raise DatasetError(f"{list_file} line {lineno}: formula index {idx_text!r} is not a number") from None
    if not 0 <= idx < len(formulas):
        raise DatasetError(
            f"{list_file} line {lineno}: formula index {idx} is out of range "
            f"({formulas_file.name} has {len(formulas)} formulas)"
        )
    return formulas[idx]


def _attach_images(
    rows: list[tuple[str, str, str]],
    image_dir: Path | None,
    list_file: Path,
    source: str,
    skip_missing: bool,
    skipped: dict[str, int],
) -> FolderSplit:
    """rows (name, formula, file name) -> FolderSplit; checks that the images exist.

    One directory listing instead of a stat per image keeps 100k-image splits fast.
    """
    if image_dir is None:
        return FolderSplit([Example(n, f, None) for n, f, _ in rows], source, skipped)
    present = set(os.listdir(image_dir)) if image_dir.is_dir() else set()
    examples: list[Example] = []
    missing: list[str] = []
    for name, formula, file in rows:
        if file in present:
            examples.append(Example(name, formula, image_dir / file))
        else:
            missing.append(file)
    if missing:
        first = ", ".join(missing[:SHOW_MISSING]) + (", ..." if len(missing) > SHOW_MISSING else "")
        if not skip_missing:
            raise DatasetError(
                f"{len(missing)} of {len(rows)} images listed in {list_file} are missing from "
                f"{image_dir} (first: {first}); skip them with the skip-missing option"
            )
        skipped["missing image"] = skipped.get("missing image", 0) + len(missing)
        warnings.warn(
            f"skipped {len(missing)} of {len(rows)} examples of {list_file}: images missing "
            f"from {image_dir} (first: {first})",
            DatasetWarning,
            stacklevel=3,
        )
    return FolderSplit(examples, source, skipped)


def _normalizer():
    """img2tex.tokenizer.normalize, imported lazily (only callers who ask for it need it)."""
    from img2tex.tokenizer import normalize

    return normalize


# ---------------------------------------------------------------- layouts


def read_im2latex(
    root: str | Path,
    split: str,
    normalize: bool = False,
    skip_missing: bool = False,
    images: bool = True,
) -> FolderSplit:
    """im2latex-100k as distributed: im2latex_formulas.lst + im2latex_{split}.lst + formula_images/.

    ``normalize``: pass each raw formula through img2tex.tokenizer.normalize; formulas it
    refuses are skipped and counted in ``skipped["formula failed to normalize"]``.
    ``images=False``: do not look for the images (formulas only; `Example.image_path` None).
    """
    root = _check_dir(root)
    formulas_file = find_first(root, ["im2latex_formulas.lst", "im2latex_formulas.norm.lst"], "formula list")
    list_file = find_first(
        root,
        [f"im2latex_{s}.lst" for s in split_spellings(split)] + [f"{s}.lst" for s in split_spellings(split)],
        f"list of the {split!r} split",
    )
    formulas = read_lines(formulas_file)
    norm = _normalizer() if normalize else None
    skipped: dict[str, int] = {}
    rows: list[tuple[str, str, str]] = []
    for lineno, line in enumerate(read_lines(list_file), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DatasetError(
                f"{list_file} line {lineno}: expected 'formula_idx image_name render_type', got {line!r}"
            )
        formula = _formula_at(formulas, fields[0], list_file, lineno, formulas_file)
        if norm is not None:
            try:
                formula = norm(formula)
            except FormulaError:
                skipped["formula failed to normalize"] = skipped.get("formula failed to normalize", 0) + 1
                continue
        name = fields[1][:-4] if fields[1].endswith(".png") else fields[1]
        rows.append((name, formula, name + ".png"))
    image_dir = None
    if images:
        image_dir = find_first(root, ["formula_images", "formula_images_processed", "images"], "image folder")
    out = _attach_images(rows, image_dir, list_file, f"{list_file}", skip_missing, skipped)
    # Full pages at twice the processed look's glyph size: read as `predict` reads them.
    out.rescale = image_dir is None or image_dir.name != "formula_images_processed"
    return out


def _processed_list(root: Path, split: str) -> Path:
    names = split_spellings(split)
    return find_first(
        root,
        [f"im2latex_{s}_filter.lst" for s in names] + [f"{s}_filter.lst" for s in names],
        f"list of the {split!r} split",
    )


def read_processed(root: str | Path, split: str, skip_missing: bool = False, images: bool = True) -> FolderSplit:
    """Processed im2latex (and `img2tex render` output): formulas.norm.lst + *_filter.lst +
    images_processed/ (or formula_images_processed/)."""
    root = _check_dir(root)
    formulas_file = find_first(root, ["formulas.norm.lst", "im2latex_formulas.norm.lst"], "formula list")
    list_file = _processed_list(root, split)
    formulas = read_lines(formulas_file)
    rows: list[tuple[str, str, str]] = []
    for lineno, line in enumerate(read_lines(list_file), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"{list_file} line {lineno}: expected 'image.png formula_idx', got {line!r}")
        formula = _formula_at(formulas, fields[1], list_file, lineno, formulas_file)
        file = fields[0]
        name = file.rsplit(".", 1)[0] if file.lower().endswith(IMAGE_SUFFIXES) else file
        if not file.lower().endswith(IMAGE_SUFFIXES):
            file += ".png"
        rows.append((name, formula, file))
    image_dir = None
    if images:
        image_dir = find_first(root, ["images_processed", "formula_images_processed"], "image folder")
    return _attach_images(rows, image_dir, list_file, f"{list_file}", skip_missing, {})


def plain_labels(root: Path, split: str | None) -> Path | None:
    cands: list[str] = []
    if split is not None:
        for s in split_spellings(split):
            cands += [f"{s}.tsv", f"labels_{s}.tsv"]
    cands.append("labels.tsv")
    return find_optional(root, cands)


def read_plain(
    root: str | Path, labels: str | Path | None = None, skip_missing: bool = False, images: bool = True
) -> FolderSplit:
    """A folder of images + a labels file of ``image<TAB>formula`` lines (default root/labels.tsv).

    Image names are relative to ``root`` (absolute paths are kept); an optional first line
    ``image<TAB>formula`` is a header and skipped; blank lines are ignored.
    """
    root = _check_dir(root)
    labels_file = Path(labels) if labels is not None else root / "labels.tsv"
    if not labels_file.is_file():
        raise DatasetError(f"{labels_file}: no such labels file (expected lines 'image<TAB>formula')")
    examples: list[Example] = []
    missing: list[str] = []
    for lineno, line in enumerate(read_lines(labels_file), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DatasetError(f"{labels_file} line {lineno}: expected 'image<TAB>formula', got {line[:60]!r}")
        image, formula = line.split("\t", 1)
        image = image.strip()
        if (
            lineno == 1
            and image.lower() in ("image", "file", "filename")
            and formula.strip().lower() in ("formula", "latex", "label")
        ):
            continue
        if not image:
            raise DatasetError(f"{labels_file} line {lineno}: empty image name")
        path = Path(image) if Path(image).is_absolute() else root / image
        if images and not path.is_file():
            missing.append(image)
            continue
        name = Path(image).stem
        examples.append(Example(name, formula.strip(), path if images else None))
    skipped: dict[str, int] = {}
    if missing:
        first = ", ".join(missing[:SHOW_MISSING]) + (", ..." if len(missing) > SHOW_MISSING else "")
        total = len(missing) + len(examples)
        if not skip_missing:
            raise DatasetError(
                f"{len(missing)} of {total} images listed in {labels_file} are missing "
                f"(first: {first}); skip them with the skip-missing option"
            )
        skipped["missing image"] = len(missing)
        warnings.warn(
            f"skipped {len(missing)} of {total} examples of {labels_file}: images missing (first: {first})",
            DatasetWarning,
            stacklevel=2,
        )
    # A user's own images, of any look and size: read as `predict` reads them.
    return FolderSplit(examples, str(labels_file), skipped, rescale=True)


def read_formulas_tsv(path: str | Path, split: str) -> list[str]:
    """Formulas of one split from a ``formula_idx split image_name source norm_formula`` TSV
    (im2latex's recovered val_test_normalized_by_idx.tsv): a formulas-only source."""
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise DatasetError(f"{path}: empty file")
    header = lines[0].split("\t")
    try:
        col_split, col_formula = header.index("split"), header.index("norm_formula")
    except ValueError:
        raise DatasetError(f"{path}: expected a header with 'split' and 'norm_formula' columns") from None
    want = canonical_split(split)
    out: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) <= max(col_split, col_formula):
            raise DatasetError(f"{path} line {lineno}: expected {len(header)} tab-separated columns")
        s = canonical_split(cols[col_split])
        seen.add(s)
        if s == want:
            out.append(cols[col_formula])
    if not out:
        have = ", ".join(sorted(seen)) or "none"
        raise DatasetError(f"{path}: no formulas for split {split!r} (it has: {have})")
    return out
