"""Where the default model's errors are: token confusions, and how many would not show on paper.

Usage: python benchmarks/error_analysis.py PREDICTIONS_TSV
PREDICTIONS_TSV is what `img2tex eval ... -o DIR` writes as DIR/predictions.tsv (name, ref, hyp),
e.g. ../work/eval/clean-beam1/predictions.tsv from benchmarks/eval_default_model.py.

Token-level exact match counts as wrong many predictions that typeset the same as the reference:
an extra pair of braces, `\\to` for `\\rightarrow`, `~` for `\\;`. This script measures how much
of the gap is such spelling and how much is misread ink, to say which to work on next. It
aligns each prediction with its reference (difflib) and writes benchmarks/results/error_analysis.md
and .json.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import platform
from pathlib import Path

from machine import write_results  # benchmarks/ is the script's folder

# Tokens that only add horizontal space: a different choice among them barely shows.
# (A control space, backslash-space, is the lone token "\\" once the formula is split on spaces.)
SPACING = frozenset(r"\, \; \: \! ~ \quad \qquad \enspace \thinspace".split() + ["\\"])
BRACES = frozenset("{ }".split())
# Spellings that typeset identically (or nearly, for \left/\right around short content).
SAME_INK = [
    ("\\to", "\\rightarrow"),
    ("\\vert", "|"),
    ("\\left(", "("),
    ("\\right)", ")"),
    ("\\left[", "["),
    ("\\right]", "]"),
    ("\\mathrm", "\\operatorname"),
    ("\\ne", "\\neq"),
]
_TO_FIRST = {b: a for a, b in SAME_INK}


def read_predictions(path: Path) -> list[tuple[str, str]]:
    """(reference, prediction) token strings of an eval predictions.tsv (split on tabs only)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if not lines or lines[0] != "name\tref\thyp":
        raise SystemExit(f"{path}: not an img2tex eval predictions.tsv")
    pairs = []
    for line in lines[1:]:
        if line:
            _, ref, hyp = line.split("\t")
            pairs.append((ref, hyp))
    return pairs


def canonical(tokens: list[str], drop: frozenset[str]) -> list[str]:
    """Tokens without those in `drop`, with same-ink spellings mapped to one of them."""
    return [_TO_FIRST.get(t, t) for t in tokens if t not in drop]


#: A reference and its prediction as tokens, with difflib's opcodes aligning them.
Aligned = tuple[list[str], list[str], list[tuple[str, int, int, int, int]]]


def align(pairs: list[tuple[str, str]]) -> list[Aligned]:
    """Each (reference, prediction) split into tokens and aligned once, for every count below."""
    aligned = []
    for ref, hyp in pairs:
        a, b = ref.split(), hyp.split()
        aligned.append((a, b, difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()))
    return aligned


def confusions(aligned: list[Aligned]) -> tuple[collections.Counter, collections.Counter, collections.Counter]:
    """Counts of one-for-one token substitutions, missed token runs and extra token runs."""
    subs: collections.Counter = collections.Counter()
    missed: collections.Counter = collections.Counter()
    extra: collections.Counter = collections.Counter()
    for a, b, opcodes in aligned:
        for op, i1, i2, j1, j2 in opcodes:
            if op == "replace" and i2 - i1 == j2 - j1:
                subs.update(zip(a[i1:i2], b[j1:j2]))
            elif op == "replace":
                subs[(" ".join(a[i1:i2]), " ".join(b[j1:j2]))] += 1
            elif op == "delete":
                missed[" ".join(a[i1:i2])] += 1
            elif op == "insert":
                extra[" ".join(b[j1:j2])] += 1
    return subs, missed, extra


ACCENTS = frozenset(r"\hat \tilde \bar \dot \vec \check \breve \ddot".split())


def accent_reading(aligned: list[Aligned]) -> dict[str, int]:
    """How the reference's accents were read: the same accent in the aligned prediction, another
    accent in its place, or neither (dropped, or lost in a longer misread).

    Why a rate and not only the confusion count: a model that stops dropping accents turns some
    misses into confusions, so the count alone can rise while small marks are read better."""
    counts = {"reference": 0, "same": 0, "other_accent": 0}
    for a, b, opcodes in aligned:
        for op, i1, i2, j1, j2 in opcodes:
            for k in range(i1, i2):
                if a[k] not in ACCENTS:
                    continue
                counts["reference"] += 1
                if op == "equal":
                    counts["same"] += 1
                elif op == "replace" and i2 - i1 == j2 - j1 and b[j1 + k - i1] in ACCENTS:
                    counts["other_accent"] += 1
    return counts


def cell(tokens: str) -> str:
    """Tokens as a Markdown table cell (a bare | would end the cell)."""
    return "`" + tokens.replace("|", "\\|") + "`"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("predictions", type=Path)
    ap.add_argument("--out-name", default="error_analysis", help="results file names (.md and .json)")
    args = ap.parse_args()
    pairs = read_predictions(args.predictions)
    n = len(pairs)
    exact = {
        "as scored (tokens)": sum(r == h for r, h in pairs),
        "ignoring spacing commands": sum(
            canonical(r.split(), SPACING) == canonical(h.split(), SPACING) for r, h in pairs
        ),
        "ignoring spacing, braces and same-ink spellings": sum(
            canonical(r.split(), SPACING | BRACES) == canonical(h.split(), SPACING | BRACES) for r, h in pairs
        ),
    }
    by_length: dict[int, list[int]] = {}  # lower bound of a 20-token band -> [images, exact]
    for r, h in pairs:
        counts = by_length.setdefault(min(len(r.split()) // 20 * 20, 120), [0, 0])
        counts[0] += 1
        counts[1] += r == h
    aligned = align(pairs)
    subs, missed, extra = confusions(aligned)
    accent_read = accent_reading(aligned)
    accent_subs = accent_read["other_accent"]  # the accent-for-accent substitutions among `subs`
    result = {
        "machine": f"{platform.platform()}, Python {platform.python_version()}",
        "predictions": str(args.predictions),
        "images": n,
        "exact_match": {k: round(v / n, 4) for k, v in exact.items()},
        "exact_by_reference_length": {
            (f"{lo}-{lo + 19}" if lo < 120 else "120-150"): {"images": v[0], "exact": round(v[1] / v[0], 4)}
            for lo, v in sorted(by_length.items())
        },
        "accent_for_accent_substitutions": accent_subs,
        "reference_accents": accent_read,
        "top_substitutions": [[a, b, c] for (a, b), c in subs.most_common(25)],
        "top_missed": missed.most_common(12),
        "top_extra": extra.most_common(12),
    }
    named = "" if args.out_name == "error_analysis" else f" --out-name {args.out_name}"
    md = [
        f"# Error analysis of `{args.predictions.parent.name}/{args.predictions.name}` ({n} images)",
        "",
        f"Machine: {result['machine']}. Produced by `python benchmarks/error_analysis.py {args.predictions}{named}`.",
        "",
        "| exact match | share |",
        "|---|---|",
    ]
    md += [f"| {k} | {v:.2%} |" for k, v in result["exact_match"].items()]
    md += [
        "",
        "The last row is an optimistic bound on what would typeset the same: dropping every brace "
        "also equates a few formulas that do not (`x ^ { a b }` and `x ^ a b`).",
    ]
    md += ["", "| reference length (tokens) | images | exact match |", "|---|---|---|"]
    md += [f"| {k} | {v['images']} | {v['exact']:.1%} |" for k, v in result["exact_by_reference_length"].items()]
    md += [
        "",
        f"Accent read as another accent (`\\hat`, `\\tilde`, `\\bar`, `\\dot`, `\\vec`, ...): {accent_subs} times.",
        "",
        f"Accents in the references: {accent_read['reference']}; read as the same accent "
        f"{accent_read['same']} ({accent_read['same'] / max(accent_read['reference'], 1):.1%}), as another "
        f"accent {accent_read['other_accent']} ({accent_read['other_accent'] / max(accent_read['reference'], 1):.1%}).",
        "",
        "| reference | prediction | times |",
        "|---|---|---|",
    ]
    md += [f"| {cell(a)} | {cell(b)} | {c} |" for a, b, c in result["top_substitutions"]]
    md += ["", "| missed (in the reference, not predicted) | times |", "|---|---|"]
    md += [f"| {cell(a)} | {c} |" for a, c in result["top_missed"]]
    md += ["", "| extra (predicted, not in the reference) | times |", "|---|---|"]
    md += [f"| {cell(a)} | {c} |" for a, c in result["top_extra"]]
    write_results(args.out_name, result, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
