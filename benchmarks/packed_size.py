"""Packed size and load rate of rendered splits, file by file.

Usage: python benchmarks/packed_size.py FOLDER [FOLDER ...] [--levels 4]
Each FOLDER is `img2tex render` output (processed layout, e.g. the im2latex test split rendered
by benchmarks/eval_default_model.py into ../work/test_clean). Packs each into a temporary folder
with the current format, reports bytes per file and per image, MiB per 100k images, and random-
order load rate. Writes benchmarks/results/packed_size.json and .md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from machine import describe, write_results  # benchmarks/ is the script's folder

from img2tex.data.packed import VERSION, PackedSplit, pack_processed


def pack_and_measure(src: Path, dst: Path, split: str, levels: int) -> dict[str, object]:
    """Pack the rendered folder `src` into `dst`; sizes per file and image, pack and load rates."""
    t = time.perf_counter()
    n = pack_processed(src, dst, split=split, levels=levels)
    pack_s = time.perf_counter() - t
    files = {f.name: f.stat().st_size for f in sorted(dst.iterdir())}
    total = sum(files.values())
    ds = PackedSplit(dst)
    order = list(range(len(ds)))
    random.Random(0).shuffle(order)
    t = time.perf_counter()
    for i in order:
        ds.image(i)
    load = len(ds) / (time.perf_counter() - t)
    return {
        "images": n,
        "levels": levels,
        "files": files,
        "bytes": total,
        "bytes_per_image": round(total / n, 1),
        "mib_per_100k": round(total / n * 1e5 / 2**20, 1),
        "load_images_per_s": round(load),
        "pack_images_per_s": round(n / pack_s),
    }


def _split_of(folder: Path) -> str:
    """The split an `img2tex render` folder holds: the X of its X_filter.lst."""
    lists = sorted(folder.glob("*_filter.lst"))
    if len(lists) != 1:
        raise SystemExit(f"{folder}: expected one *_filter.lst, found {len(lists)}")
    return lists[0].name[: -len("_filter.lst")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--levels", type=int, default=4)
    args = ap.parse_args()
    result: dict[str, object] = {
        "machine": describe(),
        "format_version": VERSION,
        "sets": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for folder in args.folders:
            split = _split_of(folder)
            row = {
                "folder": str(folder),
                "split": split,
                **pack_and_measure(folder, Path(tmp) / folder.name, split, args.levels),
            }
            result["sets"].append(row)  # type: ignore[union-attr]
    lines = [
        f"# Packed size (format v{VERSION})\n",
        f"Machine: {result['machine']}\n",
        "Command: `python benchmarks/packed_size.py " + " ".join(str(f) for f in args.folders) + "`\n",
        "| set | images | levels | images.bin | index | names | formulas | bytes/image | MiB per 100k "
        "| load images/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["sets"]:  # type: ignore[union-attr]
        f = r["files"]
        lines.append(
            f"| {Path(r['folder']).name} | {r['images']} | {r['levels']} | {f.get('images.bin', 0):,} | "
            f"{f.get('index.npy.xz', 0):,} | {f.get('names.txt.xz', 0):,} | {f.get('formulas.txt.xz', 0):,} | "
            f"{r['bytes_per_image']} | {r['mib_per_100k']} | {r['load_images_per_s']:,} |"
        )
    write_results("packed_size", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
