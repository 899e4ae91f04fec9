"""Readers for the dataset layouts users have, behind one small protocol (`FormulaImages`).

Layouts (auto-detected by `open_split`):

- **im2latex-100k as distributed**: ``im2latex_formulas.lst`` (line i = raw formula i),
  ``im2latex_{split}.lst`` (lines ``formula_idx image_name render_type``), ``formula_images/``.
- **processed im2latex** (also what ``img2tex render`` writes): ``formulas.norm.lst``,
  ``im2latex_{split}_filter.lst`` or ``{split}_filter.lst`` (lines ``image.png formula_idx``),
  ``images_processed/`` (or ``formula_images_processed/``).
- **plain**: a folder of images plus ``labels.tsv`` (``image<TAB>formula`` per line); per-split
  files ``{split}.tsv`` / ``labels_{split}.tsv`` win over ``labels.tsv`` when present.
- **packed** (img2tex.packed): few files holding many images; read by `packed.PackedDataset`.
- **formulas only**: im2latex's ``val_test_normalized_by_idx.tsv`` (columns ``formula_idx split
  image_name source norm_formula``), for commands that need no images (`formulas_of`).

Formulas are returned as written in the files; raw im2latex formulas can be normalized on
reading (``normalize=True``). Images are loaded lazily, one at a time, with
`images.load_image` (not preprocessed), so a dataset of 100k images costs only its lists.
"""

from __future__ import annotations

import bisect
import itertools
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from img2tex.errors import DatasetError, FormulaError, ImageError
from img2tex.images import load_image

SPLIT_ALIASES = {"val": "validate", "valid": "validate", "validation": "validate", "dev": "validate"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VAL_TEST_TSV = "val_test_normalized_by_idx.tsv"
# How many missing image names an error message lists before "...".
SHOW_MISSING = 3


class DatasetWarning(UserWarning):
    """Examples were skipped (missing images, formulas that failed to normalize)."""


@runtime_checkable
class FormulaImages(Protocol):
    """What training, evaluation and `img2tex vocab` need from a dataset split."""

    def __len__(self) -> int: ...
    def formula(self, i: int) -> str: ...
    def name(self, i: int) -> str: ...
    def image(self, i: int) -> np.ndarray: ...
    def shape(self, i: int) -> tuple[int, int]: ...


@dataclass(frozen=True)
class Example:
    """One labelled image: ``formula`` as the labels file has it, ``image_path`` None if unknown."""

    name: str
    formula: str
    image_path: Path | None


@dataclass
class ExampleSet(Sequence[Example]):
    """A list of `Example` that implements `FormulaImages` (images read on demand).

    ``skipped`` counts examples left out, by reason (e.g. ``{"missing image": 3}``), so that the
    CLI can report them; ``source`` says which files the examples came from.
    """

    examples: list[Example]
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)

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


def canonical_split(split: str) -> str:
    """'val'/'valid'/'validation'/'dev' -> 'validate' (im2latex's name); others unchanged."""
    return SPLIT_ALIASES.get(split.lower(), split)


def _split_names(split: str) -> list[str]:
    """Spellings to try for a split in file names, im2latex's first."""
    c = canonical_split(split)
    names = [c] + [a for a, v in SPLIT_ALIASES.items() if v == c and a != c]
    if split not in names:
        names.insert(0, split)
    return names


def _find(root: Path, candidates: list[str], what: str) -> Path:
    """First existing root/candidate; DatasetError naming everything looked for."""
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    shown = ", ".join(candidates[:4]) + (" ..." if len(candidates) > 4 else "")
    raise DatasetError(f"{root}: no {what} found (looked for {shown})")


def _find_opt(root: Path, candidates: list[str]) -> Path | None:
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    return None


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def read_lines(path: Path) -> list[str]:
    """Lines of a list file, split on ``\\n`` only (some im2latex formulas hold a bare ``\\r``),
    each decoded as UTF-8 or, where that fails, latin-1; a CRLF ending loses its ``\\r``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [_decode(p[:-1] if p.endswith(b"\r") else p) for p in parts]


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
        raise DatasetError(
            f"{list_file} line {lineno}: formula index {idx_text!r} is not a number"
        ) from None
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
) -> ExampleSet:
    """rows (name, formula, file name) -> ExampleSet; checks that the images exist.

    One directory listing instead of a stat per image keeps 100k-image splits fast.
    """
    if image_dir is None:
        return ExampleSet([Example(n, f, None) for n, f, _ in rows], source, skipped)
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
    return ExampleSet(examples, source, skipped)


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
) -> ExampleSet:
    """im2latex-100k as distributed: im2latex_formulas.lst + im2latex_{split}.lst + formula_images/.

    ``normalize``: pass each raw formula through img2tex.tokenizer.normalize; formulas it
    refuses are skipped and counted in ``skipped["formula failed to normalize"]``.
    ``images=False``: do not look for the images (formulas only; `Example.image_path` None).
    """
    root = _check_dir(root)
    formulas_file = _find(root, ["im2latex_formulas.lst", "im2latex_formulas.norm.lst"], "formula list")
    list_file = _find(
        root, [f"im2latex_{s}.lst" for s in _split_names(split)] + [f"{s}.lst" for s in _split_names(split)],
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
        image_dir = _find(root, ["formula_images", "formula_images_processed", "images"], "image folder")
    return _attach_images(rows, image_dir, list_file, f"{list_file}", skip_missing, skipped)


def _processed_list(root: Path, split: str) -> Path:
    names = _split_names(split)
    return _find(
        root,
        [f"im2latex_{s}_filter.lst" for s in names] + [f"{s}_filter.lst" for s in names],
        f"list of the {split!r} split",
    )


def read_processed(
    root: str | Path, split: str, skip_missing: bool = False, images: bool = True
) -> ExampleSet:
    """Processed im2latex (and `img2tex render` output): formulas.norm.lst + *_filter.lst +
    images_processed/ (or formula_images_processed/)."""
    root = _check_dir(root)
    formulas_file = _find(root, ["formulas.norm.lst", "im2latex_formulas.norm.lst"], "formula list")
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
        image_dir = _find(root, ["images_processed", "formula_images_processed"], "image folder")
    return _attach_images(rows, image_dir, list_file, f"{list_file}", skip_missing, {})


def _plain_labels(root: Path, split: str | None) -> Path | None:
    cands: list[str] = []
    if split is not None:
        for s in _split_names(split):
            cands += [f"{s}.tsv", f"labels_{s}.tsv"]
    cands.append("labels.tsv")
    return _find_opt(root, cands)


def read_plain(
    root: str | Path, labels: str | Path | None = None, skip_missing: bool = False, images: bool = True
) -> ExampleSet:
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
        if lineno == 1 and image.lower() in ("image", "file", "filename") and formula.strip().lower() in (
            "formula", "latex", "label"):
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
    return ExampleSet(examples, str(labels_file), skipped)


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


# ---------------------------------------------------------------- detection


def _packed_module():
    try:
        from img2tex import packed
    except ImportError:
        return None
    return packed


def detect_layout(path: str | Path, split: str | None = None) -> str:
    """'packed', 'im2latex', 'processed', 'plain' or 'formulas-tsv'; DatasetError if none."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p}: no such file or folder")
    if p.is_file():
        if p.suffix == ".tsv":
            with p.open("rb") as f:
                first = _decode(f.readline().rstrip(b"\r\n"))
            return "formulas-tsv" if "norm_formula" in first.split("\t") else "plain"
        raise DatasetError(f"{p}: expected a dataset folder or a labels .tsv file")
    packed = _packed_module()
    if packed is not None and packed.is_packed(p):
        return "packed"
    if (p / "im2latex_formulas.lst").exists():
        return "im2latex"
    if (p / "formulas.norm.lst").exists():
        return "processed"
    if _plain_labels(p, split) is not None:
        return "plain"
    if _find_opt(p, [VAL_TEST_TSV, f"formulas/{VAL_TEST_TSV}"]) is not None:
        return "formulas-tsv"
    raise DatasetError(
        f"{p}: not a dataset folder I know (looked for im2latex_formulas.lst, formulas.norm.lst, "
        "labels.tsv or a packed dataset)"
    )


def open_split(
    path: str | Path, split: str | None = None, normalize: bool = False, skip_missing: bool = False
) -> FormulaImages:
    """The examples of one split, whatever the layout (see the module docstring).

    ``path`` is a dataset folder, a packed dataset folder or a labels .tsv file. ``split`` is
    ignored for a labels file given directly and for a plain folder with only labels.tsv.
    ``normalize`` applies to raw im2latex formulas only (the other layouts hold labels as they
    should be predicted).
    """
    layout = detect_layout(path, split)
    p = Path(path)
    if layout == "packed":
        return _packed_module().PackedDataset(p)  # type: ignore[union-attr]
    if layout == "plain":
        if p.is_file():
            return read_plain(p.parent, p, skip_missing=skip_missing)
        return read_plain(p, _plain_labels(p, split), skip_missing=skip_missing)
    if split is None:
        raise DatasetError(f"{p}: this dataset has splits; name one (train, validate or test)")
    if layout == "im2latex":
        return read_im2latex(p, split, normalize=normalize, skip_missing=skip_missing)
    if layout == "processed":
        return read_processed(p, split, skip_missing=skip_missing)
    raise DatasetError(f"{p}: holds formulas only (no images); it can be used for the vocabulary")


class ConcatImages:
    """Several splits read as one (e.g. clean and augmented renders of a training set)."""

    def __init__(self, parts: Sequence[FormulaImages]) -> None:
        if not parts:
            raise DatasetError("no datasets given")
        self.parts = list(parts)
        self._starts = list(itertools.accumulate((len(p) for p in self.parts), initial=0))

    def __len__(self) -> int:
        return self._starts[-1]

    def _locate(self, i: int) -> tuple[FormulaImages, int]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = bisect.bisect_right(self._starts, i) - 1
        return self.parts[k], i - self._starts[k]

    def formula(self, i: int) -> str:
        part, j = self._locate(i)
        return part.formula(j)

    def name(self, i: int) -> str:
        part, j = self._locate(i)
        return part.name(j)

    def image(self, i: int) -> np.ndarray:
        part, j = self._locate(i)
        return part.image(j)

    def shape(self, i: int) -> tuple[int, int]:
        part, j = self._locate(i)
        return part.shape(j)


def open_splits(paths: Sequence[str | Path], split: str | None = None, normalize: bool = False,
                skip_missing: bool = False) -> FormulaImages:
    """`open_split` of each path, concatenated when there are several."""
    parts = [open_split(p, split, normalize=normalize, skip_missing=skip_missing) for p in paths]
    return parts[0] if len(parts) == 1 else ConcatImages(parts)


def formulas_of(path: str | Path, split: str | None = None, normalize: bool = False) -> list[str]:
    """The formulas of one split, without needing its images (for `img2tex vocab`).

    Works on every layout of `open_split`, and also on a folder whose images are absent or
    that holds only im2latex's val_test_normalized_by_idx.tsv (directly or under formulas/).
    """
    layout = detect_layout(path, split)
    p = Path(path)
    if layout == "packed":
        ds = _packed_module().PackedDataset(p)  # type: ignore[union-attr]
        return [ds.formula(i) for i in range(len(ds))]
    if layout == "plain":
        labels = p if p.is_file() else _plain_labels(p, split)
        return [e.formula for e in read_plain(p.parent if p.is_file() else p, labels, images=False)]
    if split is None:
        raise DatasetError(f"{p}: this dataset has splits; name one (train, validate or test)")
    if layout == "im2latex":
        return [e.formula for e in read_im2latex(p, split, normalize=normalize, images=False)]
    if layout == "processed":
        return [e.formula for e in read_processed(p, split, images=False)]
    tsv = p if p.is_file() else _find(p, [VAL_TEST_TSV, f"formulas/{VAL_TEST_TSV}"], "formula table")
    return read_formulas_tsv(tsv, split)
