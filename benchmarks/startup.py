"""`img2tex predict one.png` from process start, against its floor, in one run, in turns.

The floor is a script that does only what any ONNX Runtime reader of this model must: import
numpy, Pillow and onnxruntime, and load the two graphs. The goal is the command within 1.4x of
it. Runs alternate (command, floor, command, ...) so that both see the same machine. Both run
as Python runs by default, writing and reusing bytecode (`pip install` compiles it too): with
PYTHONDONTWRITEBYTECODE set, as on some development machines, every run would compile our
sources again while the floor's libraries keep their installed bytecode.

    python benchmarks/startup.py --repeats 15

Writes benchmarks/results/startup.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe, write_results  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "default"
IMAGE = REPO / "examples" / "quadratic.png"

FLOOR = f"""
import numpy, PIL.Image, onnxruntime as ort
opts = ort.SessionOptions()
for graph in ("encoder.onnx", "decoder_step.onnx"):
    ort.InferenceSession({str(MODEL)!r} + "/" + graph, opts, providers=["CPUExecutionProvider"])
"""


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    command = [sys.executable, "-m", "img2tex.cli", "predict", str(IMAGE)]
    floor = [sys.executable, "-c", FLOOR]
    timed(command), timed(floor)  # warm the file cache, write the bytecode
    runs: dict[str, list[float]] = {"img2tex predict": [], "floor": []}
    for _ in range(args.repeats):
        runs["img2tex predict"].append(timed(command))
        runs["floor"].append(timed(floor))
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratio = med["img2tex predict"] / med["floor"]
    machine = describe()
    result = {
        "machine": machine,
        "repeats": args.repeats,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "min_s": {k: round(min(v), 3) for k, v in runs.items()},
        "ratio": round(ratio, 2),
    }
    lines = [
        "# Start-up: `img2tex predict one.png` against its floor",
        "",
        f"{machine['cpu']}, {machine['cores']} cores; {args.repeats} runs each, in turns;",
        "`python benchmarks/startup.py`. The floor imports numpy, Pillow and onnxruntime and loads both graphs;",
        "both with bytecode written and reused, as Python does by default.",
        "",
        "| | median s | min s |",
        "|---|---|---|",
        *(f"| {k} | {med[k]:.3f} | {min(runs[k]):.3f} |" for k in runs),
        "",
        f"Ratio of the medians: {ratio:.2f} (goal: at most 1.4).",
    ]
    write_results("startup", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
