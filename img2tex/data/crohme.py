"""CROHME, the handwritten-formula benchmark, as a labelled split, in our token form.

Layout (the "crohme-png" conversion of the competition's strokes): ``groundtruth_train.tsv``,
``groundtruth_2013.tsv``, ``groundtruth_2014.tsv`` (``relative/path/without/extension<TAB>LaTeX``;
a few labels are quoted over several lines), images under ``train/`` and ``test/<year>/`` as PNG.
Splits: ``train``; ``2013`` (also ``validate``: the literature's validation set); ``2014`` (also
``test``: the set results are reported on).

Labels are LaTeX written by many hands (``\\lt``, ``\\mbox{a}``, ``\\limits``, spaces anywhere,
braces around single tokens). `normalize_crohme` brings them to the token form the model writes:
the im2latex normalization (`tokenizer.normalize`), then ``\\lt``/``\\gt`` as ``<``/``>``, a
single letter in a text box as the letter, and braces that group without being an argument dropped
(``{ x }``, and the whole label in ``{ a + 1 }``: they change nothing that is drawn). A label that
does not normalize is skipped and counted in ``skipped`` (the CLI reports it), never dropped
silently. Predictions are scored after the same canonical form (`canonical`), so that the exact
match is the literature's expression rate.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from img2tex.data.folders import Example, FolderSplit
from img2tex.data.split import canonical_split
from img2tex.errors import DatasetError, FormulaError
from img2tex.fileio import read_lines
from img2tex.tokenizer import ARITY

#: Split name (after `canonical_split`) -> the year of the ground-truth file.
SPLITS = {"train": "train", "2013": "2013", "validate": "2013", "2014": "2014", "test": "2014"}
_SYMBOLS = {"\\lt": "<", "\\gt": ">", "\\le": "\\leq", "\\ge": "\\geq", "\\ne": "\\neq"}
_BOXES = ("\\mathrm", "\\mbox", "\\text", "\\textrm")
#: `\lt`/`\gt` run into the next letter in a few labels (`u_n\gtM`); not `\ltimes`
_GLUED = re.compile(r"\\([lg]t)(?=[A-Za-z])(?!imes)")


def is_crohme(root: Path) -> bool:
    """Whether `root` holds CROHME's ground-truth files."""
    return root.is_dir() and any((root / f"groundtruth_{s}.tsv").is_file() for s in ("train", "2013", "2014"))


def canonical(tokens: str) -> str:
    """Our token form with CROHME's variations removed (see the module docstring): applied to
    both references and predictions before scoring."""
    toks = _braced([_SYMBOLS.get(t, t) for t in tokens.split()])
    changed = True
    while changed:
        changed = False
        out: list[str] = []
        i = 0
        while i < len(toks):
            # \mathrm { a } (a letter in a text box) -> a
            box = toks[i] in _BOXES and i + 3 < len(toks) and toks[i + 1] == "{" and toks[i + 3] == "}"
            if box and len(toks[i + 2]) == 1:
                out.append(toks[i + 2])
                i += 4
                changed = True
                continue
            # { x + 1 } not an argument (a bare group: the writer's or the labeller's) -> x + 1
            if toks[i] == "{" and _bare(out[-1] if out else None):
                end = _closing(toks, i)
                scripted = end is not None and end + 1 < len(toks) and toks[end + 1] in ("^", "_", "'")
                if end is not None and not (scripted and end - i > 2):  # { a + b } ^ 2 stays
                    out.extend(toks[i + 1 : end])
                    out.extend(toks[end + 1 :])
                    toks, out, i = out, [], 0
                    changed = True
                    continue
            out.append(toks[i])
            i += 1
        toks = out
    return " ".join(toks)


def _braced(toks: list[str]) -> list[str]:
    """Every argument in braces: `\\frac a b` -> `\\frac { a } { b }`, `\\sqrt x` -> `\\sqrt { x }`,
    `x ^ 2` -> `x ^ { 2 }`. Both spellings typeset alike and writers (and labellers) use both, so a
    reading must not count as wrong for choosing the other."""
    out: list[str] = []
    i = 0
    while i < len(toks):
        i = _atom(toks, i, out)
    return out


def _atom(toks: list[str], i: int, out: list[str]) -> int:
    """Append the atom at toks[i] (a group, or a token with its arguments, braced) to `out`;
    return the position after it."""
    t = toks[i]
    if t == "{":
        end = _closing(toks, i)
        if end is None:  # unclosed: left as it is
            out.extend(toks[i:])
            return len(toks)
        out.append("{")
        out.extend(_braced(toks[i + 1 : end]))
        out.append("}")
        return end + 1
    out.append(t)
    i += 1
    arity = 1 if t in ("^", "_") else ARITY.get(t, 0)
    if t == "\\sqrt" and i < len(toks) and toks[i] == "[" and "]" in toks[i:]:
        end = toks.index("]", i)
        out.extend(["[", *_braced(toks[i + 1 : end]), "]"])
        i = end + 1
    for _ in range(arity):
        if i >= len(toks) or toks[i] in ("}", "^", "_", "&", "\\\\"):
            break
        if toks[i] == "{":
            i = _atom(toks, i, out)
        else:
            arg: list[str] = []
            i = _atom(toks, i, arg)
            out.extend(["{", *arg, "}"])
    return i


def _bare(prev: str | None) -> bool:
    """Whether a group after `prev` is no argument: not after ^ _, a closing brace or bracket
    (the next argument of \\frac, \\sqrt[n]), or a command that takes arguments."""
    return prev is None or not (prev in ("^", "_", "}", "]", "\\begin", "\\end") or prev in ARITY)


def _closing(toks: list[str], start: int) -> int | None:
    """Index of the brace closing the group opened at `start`; None when it is never closed."""
    depth = 0
    for j in range(start, len(toks)):
        depth += {"{": 1, "}": -1}.get(toks[j], 0)
        if depth == 0:
            return j
    return None


def normalize_crohme(latex: str) -> str:
    """A CROHME label in our canonical token form; FormulaError when it does not normalize."""
    from img2tex.tokenizer import normalize

    text = latex.replace("\\limits", " ").replace("\\displaystyle", " ")
    text = _GLUED.sub(r"\\\1 ", text)  # "\ltq" (written for "\lt q") -> "\lt q"
    return canonical(normalize(text))


def _rows(path: Path) -> list[tuple[str, str]]:
    """(relative path, LaTeX) rows of a ground-truth file; quoted labels may span lines."""
    try:
        text = "\n".join(read_lines(path))
    except DatasetError:
        raise
    rows = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text), delimiter="\t", quotechar='"'), start=1):
        if not row or not row[0].strip():
            continue
        if len(row) < 2:
            raise DatasetError(f"{path} record {lineno}: expected 'path<TAB>latex', got {row[0][:60]!r}")
        rows.append((row[0].strip(), " ".join(row[1].split())))
    return rows


def read_crohme(root: str | os.PathLike[str], split: str, images: bool = True) -> FolderSplit:
    """One CROHME split as a `FolderSplit` (images are rescaled as `predict` reads a user's)."""
    root = Path(root)
    year = SPLITS.get(canonical_split(split)) or SPLITS.get(split)
    if year is None:
        raise DatasetError(f"{root}: CROHME has the splits train, 2013 (validate) and 2014 (test), not {split!r}")
    gt = root / f"groundtruth_{year}.tsv"
    if not gt.is_file():
        raise DatasetError(f"{gt}: no such file")
    base = root / ("train" if year == "train" else f"test/{year}")
    examples: list[Example] = []
    skipped: dict[str, int] = {}
    for rel, latex in _rows(gt):
        try:
            formula = normalize_crohme(latex)
        except FormulaError:
            skipped["label failed to normalize"] = skipped.get("label failed to normalize", 0) + 1
            continue
        path = base / f"{rel}.png"
        if images and not path.is_file():
            skipped["missing image"] = skipped.get("missing image", 0) + 1
            continue
        examples.append(Example(rel, formula, path if images else None))
    out = FolderSplit(examples, str(gt), skipped, rescale=True)
    out.canonical = canonical  # type: ignore[attr-defined]
    return out
