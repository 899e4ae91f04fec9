"""Does the readable LaTeX (`to_readable`) typeset exactly as the token form? Render both, compare pixels.

Usage: python benchmarks/readable_pixels.py --data-dir ../shared/data [--count 300] [--jobs 0]

Takes the first COUNT test formulas of im2latex-100k (normalized, as `predict` would emit
them) plus the examples' labels, renders each in its token form (`to_latex`) and its readable
form (`to_readable`) with `img2tex.rendering.renderer.render_formulas` defaults, and compares each pair with
`normalizer_pixels.compare` (identical bytes, near-identical, different). `to_readable` only
changes whitespace where TeX ignores it, so every pair should be byte-identical. Writes
benchmarks/results/readable_pixels.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import describe, write_results
from normalizer_pixels import compare
from PIL import Image

from img2tex.rendering.renderer import RenderConfig, render_formulas
from img2tex.tokenizer import to_latex, to_readable

TEST = "im2latex-100k/formulas/val_test_normalized_by_idx.tsv"
EXAMPLES = Path(__file__).parent.parent / "examples" / "labels.tsv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=300, help="test formulas to check [300]")
    ap.add_argument("--jobs", type=int, default=0)
    add_data_dir(ap)
    args = ap.parse_args()

    with open(data_file(args.data_dir, TEST), newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == "test"]
    tokens = [r["norm_formula"] for r in rows[: args.count]]
    with open(EXAMPLES, newline="", encoding="utf-8") as f:
        tokens += [r[1] for r in csv.reader(f, delimiter="\t") if len(r) == 2]
    n = len(tokens)
    formulas = [to_latex(t) for t in tokens] + [to_readable(t) for t in tokens]
    names = [f"tok{i:04d}" for i in range(n)] + [f"read{i:04d}" for i in range(n)]

    cfg = RenderConfig(jobs=args.jobs, batch_size=50, timeout_s=30)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        render_formulas(formulas, tmp, cfg, names=names)
        seconds = time.perf_counter() - t0
        images = Path(tmp) / "images_processed"
        counts = {"identical": 0, "near": 0, "different": 0, "token_form_failed": 0, "readable_failed_only": 0}
        different: list[dict[str, object]] = []
        for i in range(n):
            pt, pr = images / f"tok{i:04d}.png", images / f"read{i:04d}.png"
            if not pt.exists():
                counts["token_form_failed"] += 1
                continue
            if not pr.exists():
                counts["readable_failed_only"] += 1
                different.append({"tokens": tokens[i], "readable": formulas[n + i], "why": "readable failed to render"})
                continue
            verdict, share = compare(np.asarray(Image.open(pt).convert("L")), np.asarray(Image.open(pr).convert("L")))
            counts[verdict] += 1
            if verdict != "identical":
                different.append({"tokens": tokens[i], "readable": formulas[n + i], "verdict": verdict, "share": share})

    compared = counts["identical"] + counts["near"] + counts["different"] + counts["readable_failed_only"]
    result = {
        "machine": describe(),
        "command": f"python benchmarks/readable_pixels.py --data-dir DATA --count {args.count}",
        "formulas": n,
        "compared": compared,
        "counts": counts,
        "identical_share": counts["identical"] / compared if compared else 0.0,
        "render_seconds": round(seconds, 1),
        "not_identical": different,
    }
    lines = [
        "# Readable LaTeX pixel check",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Command: `{result['command']}`",
        "",
        f"The first {args.count} im2latex-100k test formulas and the {n - args.count} example labels, each rendered",
        "in its token form (`to_latex`) and as `predict` now prints it (`to_readable`), `render_formulas` defaults.",
        "",
        "| compared | identical | near-identical | different | readable failed only | token form failed |",
        "|---|---|---|---|---|---|",
        f"| {compared} | {counts['identical']} | {counts['near']} | {counts['different']} "
        f"| {counts['readable_failed_only']} | {counts['token_form_failed']} |",
        "",
    ]
    for d in different:
        lines.append(
            f"- `{str(d['tokens'])[:150]}` -> `{str(d['readable'])[:150]}` ({d.get('why') or d.get('verdict')})"
        )
    write_results("readable_pixels", result, lines)
    print(json.dumps({k: v for k, v in result.items() if k != "not_identical"}, indent=1))


if __name__ == "__main__":
    main()
