"""Well-formed LaTeX by construction: the shipped model's answers with and without the decoding
filter (`img2tex eval --well-formed` / `--any-tokens`), on the first N im2latex-100k test
formulas as `img2tex render` draws them, in one run.

Reports BLEU-4, exact match, both image matches of `eval --image-match` (im2markup's, with its
tolerances, and the strict one: the same ink after removing whitespace columns), the share of
answers that do not typeset, and images/s. Renders go to WORK/test_first{N} (kept between runs).

    python benchmarks/well_formed.py --data-dir ../shared/data --n 1000 --beam 5

Writes benchmarks/results/well_formed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import describe, write_results

from img2tex.data.folders import read_formulas_tsv

IMG2TEX = [sys.executable, "-m", "img2tex.cli"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(ap)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path("../work"))
    args = ap.parse_args()
    tsv = data_file(args.data_dir, "im2latex-100k/formulas/val_test_normalized_by_idx.tsv")
    renders = args.work / f"test_first{args.n}"
    if not (renders / "test_filter.lst").exists():
        lst = args.work / f"test_first{args.n}.lst"
        lst.parent.mkdir(parents=True, exist_ok=True)
        lst.write_text("\n".join(read_formulas_tsv(tsv, "test")[: args.n]) + "\n", encoding="utf-8")
        subprocess.run([*IMG2TEX, "render", str(lst), str(renders), "--split", "test"], stdout=subprocess.DEVNULL)
    rows = {}
    for label, switch in (("any tokens", "--any-tokens"), ("well-formed", "--well-formed")):
        out = subprocess.run(
            [*IMG2TEX, "eval", str(renders), "--split", "test", "--beam", str(args.beam), "--image-match", switch],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        rows[label] = json.loads(out.stdout.strip().splitlines()[-1])
        print(label, {k: rows[label][k] for k in ("bleu", "exact_match")}, rows[label]["image_match"], flush=True)
    machine = describe()
    lines = [
        "# Well-formed LaTeX by construction",
        "",
        f"The shipped model, beam {args.beam}, on the first {args.n} im2latex-100k test formulas as `img2tex render` "
        f"draws them ({rows['well-formed']['count']} that compile); {machine['cpu']}, {machine['cores']} cores.",
        f"`python benchmarks/well_formed.py --n {args.n} --beam {args.beam}`. Image match as im2markup defines",
        "it (a few columns of difference tolerated) and strict (the same ink), from `eval --image-match`.",
        "",
        "| decoding | BLEU-4 | exact match | image match (im2markup) | image match (strict) | do not typeset "
        "| images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        im = r["image_match"]
        lines.append(
            f"| {label} | {r['bleu']:.2f} | {r['exact_match']:.1%} | {im['accuracy']:.1%} | "
            f"{im['strict_accuracy']:.1%} | {im['not_compiled']:.1%} | {r['images_per_s']:.1f} |"
        )
    write_results("well_formed", {"machine": machine, "n": args.n, "beam": args.beam, "rows": rows}, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
