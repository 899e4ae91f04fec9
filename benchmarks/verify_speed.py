"""Speed of `img2tex predict DIR --verify` against plain beam 5, and against the verifier of an
earlier revision, in one run on one machine.

The first N test formulas are drawn as `img2tex render` draws them (clean, WORK/verify_speed/);
each configuration decodes that folder from process start (model loading included, as a user
runs it), with the shipped default model. Configurations run in turn, round by round, so a drift
in the machine's speed falls on all of them; the median images/s over the rounds is reported.
Nothing else may run meanwhile.

    python benchmarks/verify_speed.py --data-dir ../shared/data --n 256 --rounds 3 --old-rev c494e4a

Writes benchmarks/results/verify_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import describe, write_results
from train_speed_vs_rev import ROOT, export_rev

from img2tex.data.folders import read_formulas_tsv

MODEL = ROOT / "models" / "default"


def predict_seconds(src: Path | None, folder: Path, extra: list[str]) -> float:
    """Wall seconds of `img2tex predict FOLDER --beam 5 EXTRA` from process start, with the
    img2tex under SRC (None: this tree). SRC's runs start in SRC: `python -m` puts the working
    directory first on the path, ahead of PYTHONPATH, and this tree's img2tex would win."""
    env = dict(os.environ, PYTHONPATH=str(src)) if src is not None else None
    cmd = [sys.executable, "-m", "img2tex.cli", "predict", str(folder.resolve()), "--model", str(MODEL), "--beam", "5"]
    t0 = time.perf_counter()
    subprocess.run([*cmd, *extra], stdout=subprocess.DEVNULL, env=env, cwd=src or ROOT, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(ap)
    ap.add_argument("--n", type=int, default=256, help="test formulas (images) in the folder")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--old-rev", help="also time --verify as this git revision has it")
    ap.add_argument("--work", type=Path, default=Path("../work"))
    args = ap.parse_args()

    tsv = data_file(args.data_dir, "im2latex-100k/formulas/val_test_normalized_by_idx.tsv")
    work = args.work / "verify_speed"
    work.mkdir(parents=True, exist_ok=True)
    folder = work / f"test{args.n}"
    if not (folder / "images_processed").is_dir():
        lst = work / f"test{args.n}.lst"
        lst.write_text("\n".join(read_formulas_tsv(tsv, "test")[: args.n]) + "\n", encoding="utf-8")
        render = [sys.executable, "-m", "img2tex.cli", "render", str(lst), str(folder), "--split", "test"]
        subprocess.run(render, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    images = folder / "images_processed"
    n = len(list(images.glob("*.png")))

    configs: dict[str, tuple[Path | None, list[str]]] = {"beam 5": (None, []), "--verify": (None, ["--verify"])}
    if args.old_rev:
        old = export_rev(args.old_rev, work / f"rev-{args.old_rev}")
        configs[f"--verify ({args.old_rev})"] = (old, ["--verify"])
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, (src, extra) in configs.items():
            seconds[name].append(predict_seconds(src, images, extra))
            print(f"round {r + 1}: {name}: {seconds[name][-1]:.1f} s", flush=True)
    speed = {name: round(n / statistics.median(s), 2) for name, s in seconds.items()}

    machine = describe()
    result = {"machine": machine, "images": n, "rounds": args.rounds, "seconds": seconds, "images_per_s": speed}
    lines = [
        "# Verified decoding: speed",
        "",
        f"Machine: {machine}; the shipped default model; {n} clean test renders (the first {args.n} test",
        f"formulas); `img2tex predict DIR --beam 5` from process start; median of {args.rounds} rounds.",
        f"`python benchmarks/verify_speed.py --n {args.n} --rounds {args.rounds}"
        + (f" --old-rev {args.old_rev}`" if args.old_rev else "`"),
        "",
        "| configuration | images/s | seconds per round |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {speed[name]} | {', '.join(f'{s:.1f}' for s in seconds[name])} |" for name in configs]
    write_results("verify_speed", result, lines)


if __name__ == "__main__":
    main()
