"""How far apart runs of one configuration land when only the seed differs, beside another
configuration's runs: is a measured gain bigger than the spread between seeds?

Usage:
  python benchmarks/seed_spread.py --group "fine1=EVAL_DIR[@RUN_DIR],..." --group "deep34=..." \\
      --out-name seed_spread_X [--evaluated-on machine.txt] [--note "..."]

Each EVAL_DIR is what `img2tex eval ... -o EVAL_DIR` wrote (report.json, predictions.tsv), e.g.
the EVAL=1 step of benchmarks/gpu_train_budget.sh. It gives the row's BLEU-4, edit accuracy and
exact match, and the accents read right (error_analysis.py's `accent_reading`, the issue's
small-mark measure). An optional RUN_DIR (the run's `-o` folder) adds the greedy validation
BLEU-4 of its last epoch row in log.jsonl, the step it was taken at, and the run's seed.

Why this script: one hour of one configuration once read 43% of accents right against 34-39% for
another's hours, and whether that was the encoder or the hour could not be told from one run.
Writes benchmarks/results/<out-name>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

from error_analysis import accent_reading, align, read_predictions  # benchmarks/ is the script's folder
from machine import describe, write_results


def last_epoch_row(run: Path) -> dict:
    """The last `"kind": "epoch"` row of a run's log.jsonl (its validation at that epoch's end)."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    epochs = [r for r in rows if r.get("kind") == "epoch"]
    if not epochs:
        raise SystemExit(f"error: {run}/log.jsonl has no epoch row")
    return epochs[-1]


def measure(item: str) -> dict:
    """One run's row: its evaluation's figures, accents, and (with @RUN_DIR) its epoch row."""
    eval_dir, _, run_dir = item.partition("@")
    ev = Path(eval_dir)
    if not (ev / "report.json").is_file() or not (ev / "predictions.tsv").is_file():
        raise SystemExit(f"error: {ev}: no report.json and predictions.tsv (an `img2tex eval -o` folder)")
    report = json.loads((ev / "report.json").read_text())
    acc = accent_reading(align(read_predictions(ev / "predictions.tsv")))
    row = {
        "eval": str(ev),
        "images": report["count"],
        "beam": report["beam"],
        "bleu": round(report["bleu"], 2),
        "edit_accuracy": round(100 * report["edit_accuracy"], 1),
        "exact": round(100 * report["exact_match"], 1),
        "accents": acc["reference"],
        "accents_same": acc["same"],
        "accents_same_pct": round(100 * acc["same"] / max(acc["reference"], 1), 1),
        "accents_other": acc["other_accent"],
    }
    if run_dir:
        run = Path(run_dir)
        epoch = last_epoch_row(run)
        config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
        row.update(
            run=str(run),
            seed=config.get("train", {}).get("seed"),
            val_step=epoch["step"],
            val_bleu_greedy=round(epoch["val_bleu"], 2),
        )
    return row


def spread(values: list[float]) -> str:
    """Mean and range of a column, as `mean (min-max)`."""
    return f"{statistics.mean(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--group", action="append", required=True, help="NAME=EVAL_DIR[@RUN_DIR],... (repeat)")
    ap.add_argument("--out-name", required=True, help="results file names (.md and .json)")
    ap.add_argument("--evaluated-on", type=Path, help="a file describing the machine the runs and evals ran on")
    ap.add_argument("--note", default="", help="one paragraph on how the runs were made")
    args = ap.parse_args()

    groups: dict[str, list[dict]] = {}
    for spec in args.group:
        name, sep, items = spec.partition("=")
        if not sep or not items:
            raise SystemExit(f"error: --group {spec!r}: expected NAME=EVAL_DIR[@RUN_DIR],...")
        groups[name] = [measure(item) for item in items.split(",")]
    evaluated_on = args.evaluated_on.read_text().strip() if args.evaluated_on else None
    result = {
        "machine": describe(),
        "evaluated_on": evaluated_on,
        "command": shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "note": args.note,
        "groups": groups,
    }

    has_val = all("val_bleu_greedy" in r for rows in groups.values() for r in rows)
    head = "| group | run | seed | greedy BLEU-4 (step) |" if has_val else "| group | run |"
    cols = " BLEU-4 | edit acc. % | exact % | accents read right | read as another accent |"
    lines = [
        "# Spread between seeds",
        "",
        f"Summarized on: {result['machine']}",
        *([f"Runs and evaluations ran on: {evaluated_on.replace(chr(10), '; ')}"] if evaluated_on else []),
        "",
        f"Command: `{result['command']}`",
        "",
        *([args.note, ""] if args.note else []),
        head + cols,
        "|" + "---|" * (head.count("|") - 1 + cols.count("|")),
    ]
    for name, rows in groups.items():
        for r in rows:
            left = f"| {name} | {Path(r['eval']).name} |"
            if has_val:
                left += f" {r['seed']} | {r['val_bleu_greedy']} ({r['val_step']}) |"
            lines.append(
                left + f" {r['bleu']} | {r['edit_accuracy']} | {r['exact']} | "
                f"{r['accents_same']} of {r['accents']} ({r['accents_same_pct']}%) | {r['accents_other']} |"
            )
    lines += ["", "Per group, mean (lowest-highest):", ""]
    lines += [
        "| group | runs |" + (" greedy BLEU-4 |" if has_val else "") + " BLEU-4 | edit acc. % | accents read right % |"
    ]
    lines += ["|---|---|" + ("---|" if has_val else "") + "---|---|---|"]
    for name, rows in groups.items():
        val = f" {spread([r['val_bleu_greedy'] for r in rows])} |" if has_val else ""
        lines.append(
            f"| {name} | {len(rows)} |{val} {spread([r['bleu'] for r in rows])} | "
            f"{spread([r['edit_accuracy'] for r in rows])} | {spread([r['accents_same_pct'] for r in rows])} |"
        )
    write_results(args.out_name, result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
