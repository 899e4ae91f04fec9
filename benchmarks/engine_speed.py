"""Inference engines side by side: plain-install size, one-image start-up, folder throughput.

    python benchmarks/engine_speed.py --baseline-rev 0f153e8 --images ../work/test_clean/images_processed

Measures, in one run on this machine:

- the size of a fresh virtual environment after a plain `pip install .` (no torch) and that
  `img2tex predict examples/quadratic.png` works there (the README's first command);
- `img2tex predict one.png` wall time from process start, median of `--repeats`, for this code in
  that plain environment, and for this code and the baseline revision in the development
  environment (same packages for both, so only the code differs);
- a folder of `--folder-images` images, images/s greedy and beam 5, for both codes.

The baseline is checked out with `git worktree` into a temporary folder and run with PYTHONPATH,
reading the same model weights (`--model`, default models/default). Results go to
benchmarks/results/engine_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe, write_results  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
ONE = REPO / "examples" / "quadratic.png"


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Wall seconds of a command that must succeed (its stdout is discarded)."""
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return time.perf_counter() - t


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def plain_install(work: Path, repeats: int) -> dict[str, object]:
    """A fresh venv, `pip install .` from a copy of the tree, its size and one-image time."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    t = time.perf_counter()
    subprocess.run([*pip, str(REPO)], check=True, stdout=subprocess.DEVNULL)
    install_s = time.perf_counter() - t
    exe = str(venv / "bin" / "img2tex")
    out = subprocess.run([exe, "predict", str(ONE)], capture_output=True, text=True, check=True).stdout.strip()
    has_torch = (
        subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode == 0
    )
    times = [run([exe, "predict", str(ONE)]) for _ in range(repeats)]
    return {
        "venv_mb": round(du_mb(venv), 1),
        "install_s": round(install_s, 1),
        "torch_installed": has_torch,
        "quadratic": out,
        "one_image_s": summary(times),
    }


def summary(times: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(times), 3), "min": round(min(times), 3), "n": len(times)}


def code_runs(label: str, env: dict[str, str], model: Path, folder: Path, repeats: int) -> dict[str, object]:
    cli = [sys.executable, "-c", "from img2tex.cli import main; main()"]
    one = [run([*cli, "predict", str(ONE), "--model", str(model)], env) for _ in range(repeats)]
    n = sum(1 for f in folder.iterdir() if f.suffix == ".png")
    row: dict[str, object] = {"code": label, "one_image_s": summary(one), "folder_images": n}
    for beam in (1, 5):
        with tempfile.TemporaryDirectory() as out:
            s = run([*cli, "predict", str(folder), "--model", str(model), "--beam", str(beam), "--out", out], env)
        row[f"folder_images_per_s_beam{beam}"] = round(n / s, 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rev", required=True, help="git revision to compare with (e.g. the last release)")
    ap.add_argument("--images", type=Path, required=True, help="folder of formula images (the first N are used)")
    ap.add_argument("--folder-images", type=int, default=300)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "default")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-install", action="store_true", help="skip the plain-install measurement")
    args = ap.parse_args()
    pngs = sorted(args.images.glob("*.png"))[: args.folder_images]
    if len(pngs) < args.folder_images:
        raise SystemExit(
            f"error: {args.images} holds {len(pngs)} PNGs, fewer than --folder-images {args.folder_images}"
        )
    result: dict[str, object] = {
        "machine": describe(),
        "baseline_rev": args.baseline_rev,
        "command": " ".join(sys.argv),
    }
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "folder"
        folder.mkdir()
        for p in pngs:
            shutil.copy(p, folder / p.name)
        base = tmp / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.baseline_rev],
            check=True,
            capture_output=True,
        )
        try:
            rows = []
            for label, src in (("baseline " + args.baseline_rev, base), ("this code", REPO)):
                env = {**os.environ, "PYTHONPATH": str(src)}
                rows.append(code_runs(label, env, args.model, folder, args.repeats))
            result["codes"] = rows
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=True)
        if not args.no_install:
            result["plain_install"] = plain_install(tmp, args.repeats)
    lines = [
        "# Inference engines side by side",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Command: `{result['command']}`",
        "",
        "| code (development environment) | one image, s (median / min) | folder greedy, images/s "
        "| folder beam 5, images/s |",
        "|---|---|---|---|",
    ]
    for r in result["codes"]:  # type: ignore[union-attr]
        o = r["one_image_s"]
        lines.append(
            f"| {r['code']} | {o['median']} / {o['min']} | {r['folder_images_per_s_beam1']} "
            f"| {r['folder_images_per_s_beam5']} |"
        )
    if "plain_install" in result:
        pi = result["plain_install"]
        o = pi["one_image_s"]  # type: ignore[index]
        lines += [
            "",
            "Plain install (`pip install .` in a fresh venv):",
            "",
            f"- environment size: {pi['venv_mb']} MB (torch installed: {pi['torch_installed']}); "  # type: ignore[index]
            f"install took {pi['install_s']} s",  # type: ignore[index]
            f"- `img2tex predict examples/quadratic.png` -> `{pi['quadratic']}`",  # type: ignore[index]
            f"- one image from process start: median {o['median']} s, min {o['min']} s ({o['n']} runs)",
        ]
    write_results("engine_speed", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
