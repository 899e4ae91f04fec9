"""A training run's record: `log.jsonl` (one JSON line per log interval and per epoch) and
`loss.png` (train and validation loss against step), readable while the run goes on."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from img2tex.fileio import atomic_write_bytes

LOG, CURVE = "log.jsonl", "loss.png"


def draw_loss_curve(
    train: list[tuple[int, float]], val: list[tuple[int, float]], width: int = 800, height: int = 480
) -> bytes:
    """PNG of train (blue) and validation (orange) loss against step, with labelled axes."""
    from PIL import Image, ImageDraw  # lazy: only runs that draw need it

    im = Image.new("RGB", (width, height), "white")
    dr = ImageDraw.Draw(im)
    left, right, top, bottom = 70, width - 20, 30, height - 50
    dr.line([(left, top), (left, bottom), (right, bottom)], fill="black", width=1)
    pts = train + val
    if pts:
        xmax = max(1, max(s for s, _ in pts))
        ys = [v for _, v in pts if math.isfinite(v)]
        ymin, ymax = (min(ys), max(ys)) if ys else (0.0, 1.0)
        ymin = min(0.0, ymin)
        if ymax <= ymin:
            ymax = ymin + 1.0

        def xy(s: float, v: float) -> tuple[float, float]:
            return left + (right - left) * s / xmax, bottom - (bottom - top) * (v - ymin) / (ymax - ymin)

        for i in range(5):
            v = ymin + (ymax - ymin) * i / 4
            _, y = xy(0, v)
            dr.line([(left - 4, y), (left, y)], fill="black")
            dr.text((5, y - 6), f"{v:.3g}", fill="black")
            s = xmax * i / 4
            x, _ = xy(s, ymin)
            dr.line([(x, bottom), (x, bottom + 4)], fill="black")
            dr.text((x - 10, bottom + 8), f"{int(s)}", fill="black")
        for series, colour in ((train, (31, 119, 180)), (val, (255, 127, 14))):
            line = [xy(s, v) for s, v in series if math.isfinite(v)]
            if len(line) > 1:
                dr.line(line, fill=colour, width=2)
            for x, y in line if len(line) < 60 else []:
                dr.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    dr.text(((left + right) // 2 - 10, height - 20), "step", fill="black")
    dr.text((left, 8), "loss   ", fill="black")
    dr.text((left + 60, 8), "train", fill=(31, 119, 180))
    dr.text((left + 110, 8), "validation", fill=(255, 127, 14))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a log.jsonl; a line torn by a crash mid-write is skipped."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def append_log(path: Path, entry: dict[str, Any]) -> None:
    """Append one entry (not an atomic rewrite: a torn last line is skipped by `read_log`)."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def draw_run(run_dir: Path) -> None:
    """Redraw run_dir/loss.png from run_dir/log.jsonl."""
    log = read_log(run_dir / LOG)
    train = [(e["step"], e["loss"]) for e in log if e.get("kind") == "train"]
    val = [(e["step"], e["val_loss"]) for e in log if e.get("kind") == "epoch" and e.get("val_loss") is not None]
    atomic_write_bytes(run_dir / CURVE, draw_loss_curve(train, val))
