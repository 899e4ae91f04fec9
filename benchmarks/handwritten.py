"""The handwritten model on CROHME, as the literature reports it, and its start-up time.

Scores `models/handwritten` (and, for comparison, the printed default) on CROHME 2014 (the test
set; never used to choose anything) and 2013 (validation): expression rate (exact after both
sides are brought to one canonical form), the shares within 1 and 2 token edits, BLEU-4. Then
times `img2tex predict --model handwritten IMAGE` from process start on a CROHME 2014 image
(goal: at most 1 s on 2 cores).

    python benchmarks/handwritten.py --data-dir ../shared/data

Writes benchmarks/results/handwritten.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import describe, write_results

from img2tex.data.layout import open_split
from img2tex.predict import resolve_model
from img2tex.scoring.evaluate import evaluate

#: Published expression rates on CROHME 2014 (%), for the table.
PUBLISHED = {"WAP": 46.6, "DWAP": 50.1, "BTTR": 54.0, "CoMER": 58.4, "PosFormer": 62.7}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(ap)
    ap.add_argument("--model", default="handwritten")
    ap.add_argument("--beams", default="1,5", help="beam widths to score, comma-separated")
    ap.add_argument("--repeats", type=int, default=10, help="start-up runs")
    ap.add_argument("--printed-limit", type=int, default=200, help="2014 images the printed model reads")
    args = ap.parse_args()
    root = data_file(args.data_dir, "crohme")
    model = resolve_model(args.model)
    rows = []
    for split in ("2014", "2013"):
        data = open_split(root, split)
        for beam in (int(b) for b in args.beams.split(",")):
            r = evaluate(model, data, beam=beam, progress=False)
            rows.append({"model": args.model, "split": split, "beam": beam, **r})
            print(split, beam, r["exact_match"], r["within_1"], r["within_2"], r["bleu"], flush=True)
    printed = evaluate(resolve_model(None), open_split(root, "2014"), beam=1, limit=args.printed_limit, progress=False)
    rows.append({"model": "default", "split": "2014", "beam": 1, **printed})

    image = root / "test" / "2014"
    image = next(p for p in sorted(image.rglob("*.png")))
    command = [sys.executable, "-m", "img2tex.cli", "predict", "--model", args.model, str(image)]
    subprocess.run(command, check=True, capture_output=True)  # warm the file and graph caches
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    machine = describe()
    keep = ("model", "split", "beam", "count", "exact_match", "within_1", "within_2", "bleu", "images_per_s")
    result = {
        "machine": machine,
        "rows": [{k: row.get(k) for k in keep} for row in rows],
        "startup_s": {"median": round(statistics.median(times), 3), "min": round(min(times), 3)},
        "published": PUBLISHED,
    }
    lines = [
        "# The handwritten model on CROHME",
        "",
        f"{machine['cpu']}, {machine['cores']} cores; `python benchmarks/handwritten.py --data-dir DATA`.",
        "Expression rate: exact match after both sides are brought to one canonical form (`data.crohme`);",
        "2014 is the test set (never used to choose anything), 2013 the validation set.",
        "",
        "| model | set | beam | images | expression rate | within 1 | within 2 | BLEU-4 | images/s |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['model']} | {r['split']} | {r['beam']} | {r['count']} | {100 * r['exact_match']:.1f}% "
            f"| {100 * r['within_1']:.1f}% | {100 * r['within_2']:.1f}% | {r['bleu']:.1f} | {r['images_per_s']:.1f} |"
            for r in rows
        ),
        "",
        "Published expression rates on CROHME 2014: " + ", ".join(f"{k} {v}%" for k, v in PUBLISHED.items()) + ".",
        "",
        f"`img2tex predict --model {args.model} {image.name}` from process start: median "
        f"{statistics.median(times):.2f} s, min {min(times):.2f} s over {args.repeats} runs (goal: at most 1 s).",
    ]
    write_results("handwritten", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
