"""Quality per CPU-hour: validation BLEU-4 after 15, 30, ... minutes of training from scratch,
decoder configurations side by side on the same rendered data and machine.

    python benchmarks/train_budget.py --work ../work --minutes 15,30,45,60 --decoders feeding,parallel

Other training options go after --train-args as one string, and --tag names such a variant's run
folder (budget/<decoder>-<tag>) and its rows, e.g.

    python benchmarks/train_budget.py --work ../work --minutes 15,30,45,60 --decoders parallel \
        --train-args "--label-smoothing 0.1" --tag ls01 --out-name train_budget_ls01

With --steps instead of --minutes the marks are step counts: the run trains with --step-budget
<last mark> (the schedule runs over those steps) and stops at each mark with --max-steps. That
replays a CPU budget elsewhere: a CPU's steps per hour (from train_speed_vs_rev.py) trained on a
GPU follow the same schedule, data order and batches, e.g.

    python benchmarks/train_budget.py --work W --steps 4531,9063,13594,18126 --decoders parallel \
        --train-args "--device cuda --workers 3" --tag gpu --out-name train_budget_steps_gpu

Needs in WORK the training data of the first default model's recipe (train_a/packed, train_b/packed,
val/packed, vocab.json: `git show 769b41f:models/recipe.sh`, steps 1-3; docs/training.md has the
commands). Each configuration trains with
`img2tex train --time-budget <last mark>` (the cosine schedule runs over the whole budget), stopped
at each mark with --max-minutes and resumed; at each mark `last/` is scored greedily on the first
--val-images held-out validation formulas (`img2tex eval --engine torch`). Training time counts
the training steps only (validation, evaluation and checkpoint writing are excluded). Nothing else
may run on the machine meanwhile. Results: benchmarks/results/train_budget.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from machine import RESULTS, describe, write_json, write_results  # benchmarks/ is the script's folder

from img2tex.training.config import TrainConfig

IMG2TEX = [sys.executable, "-m", "img2tex.cli"]  # this Python's img2tex, installed or on PYTHONPATH


def gpu_name() -> str | None:
    """The CUDA device's name, when there is one (the --steps mode's runs may train there)."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def sh(cmd: list[str]) -> dict:
    """Run an img2tex command; its JSON report (last stdout line)."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 3):
        raise SystemExit(f"error: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-600:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--minutes", default="15,30,45,60", help="marks, in minutes of training")
    ap.add_argument("--steps", default="", help="marks in steps instead of minutes (a step budget)")
    ap.add_argument("--decoders", default="feeding,parallel")
    ap.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    ap.add_argument("--val-images", type=int, default=500)
    ap.add_argument("--out-name", default="train_budget")
    ap.add_argument("--train-args", default="", help="more `img2tex train` options for a new run, as one string")
    ap.add_argument("--tag", default="", help="names the variant: run folder budget/<decoder>-<tag>, its rows")
    args = ap.parse_args()
    extra = shlex.split(args.train_args)
    w = args.work
    need = [w / "train_a" / "packed", w / "train_b" / "packed", w / "val" / "packed", w / "vocab.json"]
    for p in need:
        if not p.exists():
            raise SystemExit(f"error: {p} not found: run steps 1-2 of models/recipe.sh with WORK={w} first")
    by_steps = bool(args.steps)
    marks = [int(m) for m in args.steps.split(",")] if by_steps else [float(m) for m in args.minutes.split(",")]
    unit = "steps" if by_steps else "min"
    result: dict = {
        "machine": describe(),
        "gpu": gpu_name() if by_steps else None,
        "marks": unit,
        "command": shlex.join(sys.argv),
        "batch_size": args.batch_size,
        "val_images": args.val_images,
        "train_args": args.train_args,
        "runs": {},
    }
    out_json = RESULTS / f"{args.out_name}.json"
    for decoder in args.decoders.split(","):
        name = f"{decoder}-{args.tag}" if args.tag else decoder
        run = w / "budget" / name
        base = [
            *IMG2TEX,
            "train",
            str(need[0]),
            str(need[1]),
            "--val",
            str(need[2]),
            "-o",
            str(run),
            "--batch-size",
            str(args.batch_size),
            "--val-size",
            str(args.val_images),
            "--bf16",
            "auto",
            "--no-export",
        ]
        points = []
        done = 0.0
        for mark in marks:
            t0 = time.perf_counter()
            if by_steps:
                budget = ["--step-budget", str(marks[-1])] if done == 0 else []
                stop = ["--max-steps", str(mark)]
            else:
                budget = ["--time-budget", str(marks[-1])] if done == 0 else []
                stop = ["--max-minutes", str(mark - done)]
            if done == 0.0:
                cmd = [
                    *base,
                    "--vocab",
                    str(need[3]),
                    "--preset",
                    "cpu",
                    "--decoder",
                    decoder,
                    "--epochs",
                    "1000",
                    *budget,
                    *stop,
                    *extra,
                ]
            else:
                cmd = [*base, "--resume", *stop]
            summary = sh(cmd)
            wall = time.perf_counter() - t0
            done = mark
            report = sh(
                [
                    *IMG2TEX,
                    "eval",
                    str(need[2]),
                    "--split",
                    "validate",
                    "--model",
                    str(run / "last"),
                    "--engine",
                    "torch",
                    "--beam",
                    "1",
                    "--limit",
                    str(args.val_images),
                ]
            )
            point = {
                ("step_mark" if by_steps else "minutes"): mark,
                "train_seconds": summary["train_seconds"],
                "step": summary["step"],
                "wall_seconds": round(wall, 1),
                "val_bleu": round(report["bleu"], 2),
                "val_edit_accuracy": round(report["edit_accuracy"], 4),
                "val_exact": round(report["exact_match"], 4),
            }
            print(json.dumps({"decoder": name, **point}), flush=True)
            points.append(point)
            result["runs"][name] = {"points": points, "parameters": summary.get("parameters")}
            write_json(out_json, result)
    lines = [
        "# Quality per CPU-hour",
        "",
        f"Machine: {result['machine']}" + (f", GPU: {result['gpu']}" if result["gpu"] else ""),
        "",
        f"Command: `{result['command']}`",
        "",
        f"cpu preset, batch {args.batch_size}, bf16 autocast, channels-last encoder, the default model's training "
        f"renders (models/recipe.sh steps 1-2); the learning-rate schedule runs over {marks[-1]:g} "
        + ("steps" if by_steps else "minutes of training")
        + f"; greedy validation BLEU-4 on the first {args.val_images} held-out validation formulas"
        + (f"; also `{args.train_args}`." if args.train_args else "."),
        "",
        "| decoder | parameters | " + " | ".join(f"{m:g} {unit}" for m in marks) + " |",
        "|---|---|" + "---|" * len(marks),
    ]
    for decoder, r in result["runs"].items():
        cells = [f"{p['val_bleu']:.1f} ({p['step']} steps)" for p in r["points"]]
        lines.append(f"| {decoder} | {r['parameters']:,} | " + " | ".join(cells) + " |")
    write_results(args.out_name, result, lines)  # the JSON as last written, and the table
    print("\n".join(lines))


if __name__ == "__main__":
    main()
