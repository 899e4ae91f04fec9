"""Assemble the training formula set: real formulas from every available source plus synthetic ones.

Why a corpus step at all: the im2latex-100k train formulas are not available, so the training set
is pieced together from what is (im2latex validate formulas, the 1,000 train formulas of the public
sample, formulas written by people in documentation, raw hep-th arXiv formulas and `synth`), in one
spelling (`tokenizer.normalize`), filtered as im2markup does (1..max_tokens tokens), deduplicated,
and -- the point of most of this module -- with every test formula and every held-out validation
formula removed in any spelling (`overlap_keys`), because the hep-th source contains im2latex test formulas.

Output folder (rendered to images afterwards by `img2tex render`):
    train.lst / sources.tsv   one normalized formula per line / its source tag per line
    val.lst / val_names.lst   the held-out validate formulas (model selection) / im2latex image names
    test.lst / test_names.lst the test formulas (evaluation only) / im2latex image names
    corpus_report.json        counts per source before/after each filter and overlap removed
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from img2tex.errors import DatasetError, FormulaError
from img2tex.fileio import atomic_write_text, read_lines
from img2tex.formulas.synth import SynthConfig, construct_profile, generate
from img2tex.tokenizer import normalize

#: Called with the number of formulas just processed.
Progress = Callable[[int], None]

#: Source tags, in priority order: on a duplicate the earlier source keeps the formula.
SOURCES = ("im2latex_validate", "im2latex_sample_train", "formula_corpus", "hepth", "synthetic")


@dataclass
class CorpusConfig:
    """What goes into the corpus; defaults reproduce the project's training formula set."""

    #: The shared data folder (im2latex-100k/, formula-corpus/, hepth-formulas/): given, never
    #: guessed from where the package is installed.
    data_dir: Path
    n_synthetic: int = 60_000
    val_holdout: int = 1_000
    seed: int = 0
    max_tokens: int = 150
    use_formula_corpus: bool = True
    use_hepth: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not (self.data_dir / "im2latex-100k").is_dir():
            raise DatasetError(f"{self.data_dir}: not the shared data folder (no im2latex-100k/ in it)")
        if self.n_synthetic < 0 or self.val_holdout < 0 or self.max_tokens < 1:
            raise DatasetError("n_synthetic and val_holdout must be >= 0 and max_tokens >= 1")


@dataclass(frozen=True)
class _Named:
    """A reference formula (validate or test) with its im2latex image name."""

    name: str
    formula: str


# ---------------------------------------------------------------------------------------------
# Spelling keys: the three ways a formula is compared against the test and validation sets.

# Tokens that change a formula's spelling but hardly its image: dropped by the "loose" key.
_LOOSE_DROP = frozenset(
    "{ } $ ~ \\, \\; \\: \\! \\ \\quad \\qquad \\mathrm \\rm \\hbox \\mbox \\text \\textrm "
    "\\operatorname \\operatorname* \\displaystyle \\textstyle \\scriptstyle \\scriptscriptstyle "
    "\\nonumber \\limits \\big \\Big \\bigg \\Bigg \\bigl \\bigr \\Bigl \\Bigr \\biggl \\biggr "
    "\\Biggl \\Biggr".split()
)


def _loose_token(tok: str) -> str:
    """`\\left(` -> `(`, `\\prime` -> `'`, spelling-only tokens -> ""."""
    if tok in _LOOSE_DROP:
        return ""
    if tok == "\\prime":
        return "'"
    for side in ("\\left", "\\right"):
        if tok.startswith(side) and not tok[len(side) : len(side) + 1].isalpha():
            return tok[len(side) :]
    return tok


def overlap_keys(formula: str) -> tuple[str, str, str, str]:
    """Four spellings of a formula used to find test formulas: exact; whitespace removed;
    whitespace and braces removed; and "loose" (also without font/box/size/spacing commands,
    `$`, `~`, with `\\prime` as `'` and trailing `.,;` dropped).

    Why: the same formula reaches us in different spellings (``x_i`` vs ``{x_{i}}``,
    ``\\hbox{for $r$}`` vs ``\\mathrm{for~r}``); any match means a test formula would be
    trained on, and dropping a few near-duplicates of test formulas costs nothing.
    """
    nospace = "".join(formula.split())
    loose = "".join(_loose_token(t) for t in formula.split()).rstrip(".,;")
    return formula, nospace, nospace.replace("{", "").replace("}", ""), loose


class _KeySets:
    """The three key sets of a reference formula set."""

    LEVELS = ("exact", "no_space", "no_space_no_brace", "loose")

    def __init__(self, formulas: Iterable[str]) -> None:
        self.sets: tuple[set[str], ...] = tuple(set() for _ in self.LEVELS)
        for f in formulas:
            for s, k in zip(self.sets, overlap_keys(f)):
                s.add(k)

    def match(self, formula: str) -> str | None:
        """The first level at which `formula` equals a reference formula, or None."""
        for level, s, k in zip(self.LEVELS, self.sets, overlap_keys(formula)):
            if k and k in s:
                return level
        return None


def test_overlap(train_formulas: Iterable[str], test_formulas: Iterable[str]) -> int:
    """Number of training formulas equal to a test formula in any of the `overlap_keys` spellings."""
    keys = _KeySets(test_formulas)
    return sum(1 for f in train_formulas if keys.match(f) is not None)


# ---------------------------------------------------------------------------------------------
# Readers.


def _read_reference(cfg: CorpusConfig) -> tuple[list[_Named], list[_Named]]:
    """(validate, test) rows of val_test_normalized_by_idx.tsv, in formula_idx order."""
    path = cfg.data_dir / "im2latex-100k" / "formulas" / "val_test_normalized_by_idx.tsv"
    rows = read_lines(path)
    if not rows or not rows[0].startswith("formula_idx"):
        raise DatasetError(f"{path}: missing header 'formula_idx split image_name source norm_formula'")
    val: list[tuple[int, _Named]] = []
    test: list[tuple[int, _Named]] = []
    for lineno, row in enumerate(rows[1:], start=2):
        cols = row.split("\t")
        if len(cols) != 5 or not cols[0].isdigit():
            raise DatasetError(f"{path}:{lineno}: expected 5 tab-separated columns")
        idx, split, name, _source, formula = cols
        target = val if split == "validate" else test if split == "test" else None
        if target is None:
            raise DatasetError(f"{path}:{lineno}: unknown split {split!r}")
        target.append((int(idx), _Named(name, formula.strip())))
    return [n for _, n in sorted(val, key=lambda t: t[0])], [n for _, n in sorted(test, key=lambda t: t[0])]


def _read_sample_train(cfg: CorpusConfig) -> list[str]:
    """The raw formulas of the public sample whose real split is train."""
    root = cfg.data_dir / "im2latex-100k" / "sample"
    formulas = read_lines(root / "formulas.raw.lst")
    index_path = root / "sample_to_zenodo_index.tsv"
    rows = read_lines(index_path)
    out: list[str] = []
    for lineno, row in enumerate(rows[1:], start=2):
        cols = row.split("\t")
        if len(cols) < 3 or not cols[0].isdigit():
            raise DatasetError(f"{index_path}:{lineno}: expected 'sample_formula_idx zenodo_formula_idx split ...'")
        i = int(cols[0])
        if i >= len(formulas):
            raise DatasetError(f"{index_path}:{lineno}: index {i} beyond formulas.raw.lst ({len(formulas)} lines)")
        if cols[2] == "train":
            out.append(formulas[i])
    return out


def _read_folder(folder: Path) -> list[str]:
    """All lines of the *.txt files of `folder`, files in name order."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise DatasetError(f"no *.txt formula files in {folder}")
    return [line for f in files for line in read_lines(f)]


# ---------------------------------------------------------------------------------------------
# Assembly.


@dataclass
class _SourceStats:
    read: int = 0
    normalize_failed: int = 0
    empty: int = 0
    too_long: int = 0
    after_filters: int = 0
    test_overlap: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KeySets.LEVELS, 0))
    val_overlap: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KeySets.LEVELS, 0))
    duplicates: int = 0
    kept: int = 0


def _clean(raw: str, max_tokens: int, stats: _SourceStats, already_normal: bool) -> str | None:
    """Normalize and filter one formula, counting why it is dropped; None when dropped."""
    if already_normal:
        formula = raw.strip()
    else:
        try:
            formula = normalize(raw)
        except FormulaError:
            stats.normalize_failed += 1
            return None
    if not formula.strip():
        stats.empty += 1
        return None
    if any(c in formula for c in "\n\r\t"):
        stats.normalize_failed += 1
        return None
    if len(formula.split(" ")) > max_tokens:
        stats.too_long += 1
        return None
    stats.after_filters += 1
    return formula


def _hold_out(val: list[_Named], cfg: CorpusConfig) -> tuple[list[_Named], list[_Named]]:
    """Seeded split of validate rows into (held out, rest): held-out formulas fit max_tokens and are distinct."""
    eligible: dict[str, int] = {}
    for i, row in enumerate(val):
        if row.formula and len(row.formula.split(" ")) <= cfg.max_tokens:
            eligible.setdefault(row.formula, i)
    candidates = sorted(eligible.values())
    k = min(cfg.val_holdout, len(candidates))
    chosen = set(random.Random(cfg.seed).sample(candidates, k))
    held = [row for i, row in enumerate(val) if i in chosen]
    rest = [row for i, row in enumerate(val) if i not in chosen]
    return held, rest


def _spellings(formulas: Iterable[str]) -> list[str]:
    """Each reference formula as the dataset writes it and as `normalize` writes it (if different).

    Why both: a hep-th line normalized by us matches `normalize(test formula)` even where our
    normalizer and the dataset's disagree on some detail.
    """
    out: list[str] = []
    for f in formulas:
        out.append(f)
        try:
            g = normalize(f)
        except FormulaError:
            continue
        if g != f:
            out.append(g)
    return out


def _source_streams(cfg: CorpusConfig, val_rest: list[_Named]) -> Iterator[tuple[str, list[str], bool]]:
    """(tag, formulas, already_normalized) per source in priority order; read lazily."""
    # Already in the dataset's canonical form; normalizing again would change it (im2markup's
    # normalization is not idempotent: array cells and \overline arguments gain a brace pair).
    yield "im2latex_validate", [r.formula for r in val_rest], True
    yield "im2latex_sample_train", _read_sample_train(cfg), False
    if cfg.use_formula_corpus:
        yield "formula_corpus", _read_folder(cfg.data_dir / "formula-corpus"), False
    if cfg.use_hepth:
        yield "hepth", _read_folder(cfg.data_dir / "hepth-formulas"), False
    if cfg.n_synthetic:
        synth_cfg = SynthConfig(max_tokens=cfg.max_tokens)
        yield "synthetic", generate(cfg.n_synthetic, seed=cfg.seed, cfg=synth_cfg), True


def build_corpus(cfg: CorpusConfig, out_dir: str | Path, progress: Progress | None = None) -> dict:
    """Write train/val/test formula lists and a report into `out_dir`; return the report.

    Same config -> byte-identical output. Raises DatasetError when a data file is missing or malformed.
    """
    out = Path(out_dir)
    val_rows, test_rows = _read_reference(cfg)
    held, val_rest = _hold_out(val_rows, cfg)
    test_refs = _spellings(r.formula for r in test_rows)
    val_refs = _spellings(r.formula for r in held)
    test_keys = _KeySets(test_refs)
    val_keys = _KeySets(val_refs)

    seen: set[str] = set()
    train: list[str] = []
    tags: list[str] = []
    per_source: dict[str, _SourceStats] = {}
    for tag, formulas, already_normal in _source_streams(cfg, val_rest):
        stats = per_source[tag] = _SourceStats(read=len(formulas))
        for raw in formulas:
            formula = _clean(raw, cfg.max_tokens, stats, already_normal)
            if progress is not None:
                progress(1)
            if formula is None:
                continue
            level = test_keys.match(formula)
            if level is not None:
                stats.test_overlap[level] += 1
                continue
            level = val_keys.match(formula)
            if level is not None:
                stats.val_overlap[level] += 1
                continue
            if formula in seen:
                stats.duplicates += 1
                continue
            seen.add(formula)
            train.append(formula)
            tags.append(tag)
            stats.kept += 1

    report = {
        "config": {**asdict(cfg), "data_dir": str(cfg.data_dir)},
        "train": len(train),
        "val": len(held),
        "test": len(test_rows),
        "validate_rows": len(val_rows),
        "sources": {tag: asdict(s) for tag, s in per_source.items()},
        "train_test_overlap": test_overlap(train, test_refs),
        "train_val_overlap": test_overlap(train, val_refs),
        "mix": {tag: construct_profile(f for f, t in zip(train, tags) if t == tag) for tag in per_source},
        "mix_all": construct_profile(train),
    }
    _write_lines(out / "train.lst", train)
    _write_lines(out / "sources.tsv", tags)
    _write_lines(out / "val.lst", [r.formula for r in held])
    _write_lines(out / "val_names.lst", [r.name for r in held])
    _write_lines(out / "test.lst", [r.formula for r in test_rows])
    _write_lines(out / "test_names.lst", [r.name for r in test_rows])
    atomic_write_text(out / "corpus_report.json", json.dumps(report, indent=2) + "\n")
    return report


def _write_lines(path: Path, lines: list[str]) -> None:
    atomic_write_text(path, "".join(line + "\n" for line in lines))
