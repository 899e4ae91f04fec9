"""Tests for img2tex.training.runlog: the log.jsonl of a run and its loss.png."""

from __future__ import annotations

import json
from pathlib import Path

from img2tex.training.runlog import append_log, draw_loss_curve, read_log


def test_draw_loss_curve_is_a_png_with_the_curves_on_it() -> None:
    import io

    import numpy as np
    from PIL import Image

    blank = np.asarray(Image.open(io.BytesIO(draw_loss_curve([], []))).convert("RGB")).astype(int)
    png = draw_loss_curve([(1, 3.0), (2, 2.0), (3, float("nan")), (4, 1.5)], [(3, 1.7)], [(3, 40.0)])
    drawn = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert png.startswith(b"\x89PNG") and drawn.shape == blank.shape == (500, 900, 3)
    colourful = (drawn.max(axis=2) - drawn.min(axis=2)) > 80  # the coloured curves, legend
    assert colourful.sum() > 10 * ((blank.max(axis=2) - blank.min(axis=2)) > 80).sum() + 200


def test_read_log_skips_a_torn_last_line(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    assert read_log(log) == []  # no log yet
    entries = [{"kind": "train", "step": 1, "loss": 2.5}, {"kind": "epoch", "step": 2, "val_loss": 2.0}]
    for e in entries:
        append_log(log, e)
    with log.open("a", encoding="utf-8") as fh:  # a crash in the middle of writing the third entry
        fh.write(json.dumps({"kind": "train", "step": 3, "loss": 1.9})[:12])
    assert read_log(log) == entries


def test_trim_log_drops_the_entries_after_a_step(tmp_path: Path) -> None:
    from img2tex.training.runlog import trim_log

    log = tmp_path / "log.jsonl"
    for step in (50, 100, 150, 200):
        append_log(log, {"kind": "train", "step": step, "loss": 1.0})
    append_log(log, {"kind": "epoch", "step": 200, "val_bleu": 10.0})
    append_log(log, {"kind": "note"})  # no step: kept
    assert trim_log(log, 100) == 3
    assert [e.get("step") for e in read_log(log)] == [50, 100, None]
    assert trim_log(log, 100) == 0
