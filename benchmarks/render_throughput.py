"""Render throughput, packed size and packed load rate on this machine.

Usage: python benchmarks/render_throughput.py --data-dir ../shared/data [--n 2000] [--jobs 0]
Renders the first N formulas of DATA/formula-corpus/*.txt (real formulas written by
people) and im2latex's 1,200-formula sample (the target look and length), packs each rendered
split at several grey levels and times random-order loading. Writes
benchmarks/results/render_throughput.json and .md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import describe, write_results  # benchmarks/ is the script's folder
from packed_size import pack_and_measure

from img2tex.rendering.renderer import RenderConfig, render_formulas


def corpus(data: Path, n: int) -> list[str]:
    out: list[str] = []
    for f in sorted(data_file(data, "formula-corpus").glob("*.txt")):
        out += [line for line in f.read_text(encoding="utf-8").split("\n") if line.strip()]
    return out[:n]


def im2latex_sample(data: Path) -> list[str]:
    raw = data_file(data, "im2latex-100k/sample/formulas.raw.lst").read_bytes().split(b"\n")
    return [r.decode("utf-8", "replace") for r in raw if r.strip()]


def measure(name: str, formulas: list[str], jobs: int, work: Path) -> dict[str, object]:
    out = work / name
    t = time.perf_counter()
    rep = render_formulas(formulas, out, RenderConfig(jobs=jobs))
    dt = time.perf_counter() - t
    pngs = [out / "images_processed" / line.split()[0] for line in (out / "train_filter.lst").read_text().splitlines()]
    shapes = []
    from PIL import Image

    for p in pngs:
        with Image.open(p) as im:
            shapes.append(im.size)
    row: dict[str, object] = {
        "formulas": len(formulas),
        "rendered": rep.ok,
        "failed": len(rep.failed),
        "latex_runs": rep.latex_runs,
        "seconds": round(dt, 2),
        "formulas_per_s": round(len(formulas) / dt, 1),
        "median_width": float(np.median([w for w, _ in shapes])),
        "median_height": float(np.median([h for _, h in shapes])),
        "png_bytes_per_image": round(sum(p.stat().st_size for p in pngs) / len(pngs)),
        "packed": {},
    }
    for levels in (256, 16, 4, 2):
        row["packed"][str(levels)] = pack_and_measure(out, work / f"{name}-packed-{levels}", "train", levels)  # type: ignore[index]
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=0)
    add_data_dir(ap)
    args = ap.parse_args()
    result: dict[str, object] = {
        "machine": describe(),
        "jobs": args.jobs or os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["corpus"] = measure("corpus", corpus(args.data_dir, args.n), args.jobs, Path(tmp))
        result["im2latex_sample"] = measure("im2latex", im2latex_sample(args.data_dir), args.jobs, Path(tmp))
    lines = [
        f"# Render throughput\n\nMachine: {result['machine']}; jobs: {result['jobs']}\n",
        "| set | formulas | rendered | failed | formulas/s | median w x h | PNG B/img |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ("corpus", "im2latex_sample"):
        r = result[key]
        lines.append(
            f"| {key} | {r['formulas']} | {r['rendered']} | {r['failed']} | {r['formulas_per_s']} | "
            f"{r['median_width']:.0f} x {r['median_height']:.0f} | {r['png_bytes_per_image']} |"
        )
    lines += [
        "",
        "Packed (v3: column-major bit-packed level codes, raw LZMA2 per image; grey levels quantized; 256 = exact):",
        "",
        "| set | levels | bytes/image | MiB per 100k | load images/s (random order) |",
        "|---|---|---|---|---|",
    ]
    for key in ("corpus", "im2latex_sample"):
        for lv, p in result[key]["packed"].items():
            lines.append(f"| {key} | {lv} | {p['bytes_per_image']} | {p['mib_per_100k']} | {p['load_images_per_s']} |")
    write_results("render_throughput", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
