"""`img2tex eval` on im2latex-100k as distributed: full A4 pages with the formula at twice the
model's glyph size (black on a transparent page, as the dataset's `formula_images/`).

The dataset's own pages are not in the repository, so the first N test formulas are drawn that
way: rendered at 200 dpi without the processed look's 2x downsampling, and set on a 1654x2339
transparent page. Then, on the same pages and in one run: `img2tex eval` as a user runs it (the
layout decides the rescale), `eval --no-rescale` (how eval read these pages before), and
`img2tex predict` on the page files. Writes benchmarks/results/distributed_layout.{json,md}.

    python benchmarks/distributed_layout.py --data-dir ../shared/data --n 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import describe, write_results
from PIL import Image

from img2tex.data.folders import read_formulas_tsv
from img2tex.rendering.renderer import RenderConfig, render_formulas
from img2tex.scoring.metrics import score

IMG2TEX = [sys.executable, "-m", "img2tex.cli"]


def make_pages(formulas: list[str], root: Path) -> list[str]:
    """The distributed layout of `formulas` in `root`; returns the names of the pages drawn."""
    renders = root / "renders"
    names = [f"{i:05d}" for i in range(len(formulas))]
    render_formulas(formulas, renders, RenderConfig(downsample=1), names=names, split="test")
    pages = root / "formula_images"
    pages.mkdir(parents=True, exist_ok=True)
    kept = []
    for i, name in enumerate(names):
        src = renders / "images_processed" / f"{name}.png"
        if not src.exists():  # did not compile
            continue
        ink = 255 - np.asarray(Image.open(src).convert("L"))
        ink = ink[:2000, :1500]
        page = np.zeros((2339, 1654, 4), np.uint8)
        top, left = 150 + (i * 37) % 200, 100 + (i * 53) % 150
        page[top : top + ink.shape[0], left : left + ink.shape[1], 3] = ink
        Image.fromarray(page, "RGBA").save(pages / f"{name}.png")
        kept.append(i)
    (root / "im2latex_formulas.lst").write_text("\n".join(formulas) + "\n", encoding="utf-8")
    (root / "im2latex_test.lst").write_text("".join(f"{i} {names[i]} basic\n" for i in kept), encoding="utf-8")
    return [names[i] for i in kept]


def run_eval(root: Path, *extra: str) -> dict:
    out = subprocess.run([*IMG2TEX, "eval", str(root), "--split", "test", *extra], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(ap)
    ap.add_argument("--n", type=int, default=100, help="test formulas drawn as full pages")
    ap.add_argument("--beam", type=int, default=2)
    args = ap.parse_args()
    formulas = read_formulas_tsv(
        data_file(args.data_dir, "im2latex-100k/formulas/val_test_normalized_by_idx.tsv"), "test"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_pages(formulas[: args.n], root)
        beam = ["--beam", str(args.beam)]
        by_layout = run_eval(root, *beam)
        as_stored = run_eval(root, *beam, "--no-rescale")
        t0 = time.perf_counter()
        out = subprocess.run(
            [*IMG2TEX, "predict", *beam, "--json", str(root / "formula_images")], capture_output=True, text=True
        )
        seconds = time.perf_counter() - t0
        answers = {Path(r["path"]).stem: r.get("tokens", "") for r in map(json.loads, out.stdout.splitlines())}
    refs = {name: formulas[int(name)] for name in names}
    predicted = dict(score([refs[n] for n in names], [answers.get(n, "") for n in names]))
    predicted.update(count=len(names), images_per_s=round(len(names) / seconds, 2), seconds_with_start_up=seconds)
    rows = {"eval (layout decides)": by_layout, "eval --no-rescale": as_stored, "predict on the page files": predicted}
    result = {"machine": describe(), "n_pages": len(names), "beam": args.beam, "rows": rows}
    lines = [
        "# eval on im2latex-100k as distributed (full pages)",
        "",
        f"The first {args.n} test formulas drawn as the dataset's full pages ({len(names)} compiled), "
        f"beam {args.beam}.",
        f"Machine: {describe()['cpu']}, {describe()['cores']} cores. `python benchmarks/distributed_layout.py`.",
        "",
        "| command | BLEU-4 | exact match | edit accuracy | images/s |",
        "|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        figures = f"{r['bleu']:.2f} | {r['exact_match']:.1%} | {r['edit_accuracy']:.1%} | {r['images_per_s']:.1f}"
        lines.append(f"| {label} | {figures} |")
    write_results("distributed_layout", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
