"""A training run's record: `log.jsonl` (one JSON line per log interval and per epoch) and
`loss.png` (train and validation loss and validation BLEU-4 against step, drawn with
matplotlib), readable while the run goes on."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from img2tex.fileio import atomic_write_bytes, atomic_write_text

LOG, CURVE = "log.jsonl", "loss.png"


def draw_loss_curve(
    train: list[tuple[int, float]],
    val: list[tuple[int, float]],
    bleu: list[tuple[int, float]] | None = None,
    width: int = 900,
    height: int = 500,
) -> bytes:
    """PNG of train and validation loss against step and, when given, validation BLEU-4 on a
    second axis: matplotlib's object API on the Agg canvas (no display, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: only runs that draw need it
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for series, label, style in ((train, "train loss", "-"), (val, "validation loss", "o-")):
        pts = [(s, v) for s, v in series if math.isfinite(v)]
        if pts:
            ax.plot(*zip(*pts), style, label=label, markersize=4, linewidth=1.5)
    if all(v > 0 for _, v in train + val if math.isfinite(v)) and (train or val):
        ax.set_yscale("log")  # late progress is small against the first steps' loss
    ax.set_xlabel("step")
    ax.set_ylabel("loss (token cross-entropy)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if bleu:
        ax2 = ax.twinx()
        ax2.plot(*zip(*bleu), "s--", color="tab:green", label="validation BLEU-4", markersize=4)
        ax2.set_ylabel("BLEU-4")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
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


def trim_log(path: Path, step: int) -> int:
    """Drop the entries logged after `step` (atomic rewrite); returns how many went.

    A run resumed from its checkpoint at `step` redoes the steps after it; their entries from
    the run that went on past the checkpoint (and then crashed or was killed) would otherwise
    stand twice in the log and the loss curve."""
    entries = read_log(path)
    keep = [e for e in entries if not isinstance(e.get("step"), int) or e["step"] <= step]
    if len(keep) < len(entries):
        atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in keep))
    return len(entries) - len(keep)


def draw_run(run_dir: Path) -> None:
    """Redraw run_dir/loss.png from run_dir/log.jsonl."""
    log = read_log(run_dir / LOG)
    train = [(e["step"], e["loss"]) for e in log if e.get("kind") == "train"]
    epochs = [e for e in log if e.get("kind") == "epoch"]
    val = [(e["step"], e["val_loss"]) for e in epochs if e.get("val_loss") is not None]
    bleu = [(e["step"], e["val_bleu"]) for e in epochs if e.get("val_bleu") is not None]
    atomic_write_bytes(run_dir / CURVE, draw_loss_curve(train, val, bleu))
