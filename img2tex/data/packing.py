"""Packing any labelled split, once, into the packed form the trainer reads fastest.

`img2tex render --packed` packs its own renders; this packs whatever a user has: im2latex-100k
as distributed (full A4 pages at twice the model's glyph size), the processed layout, a folder of
one's own images. Images the layout says to rescale (`split.needs_rescale`) are preprocessed as
`img2tex predict` reads them (cropped, brought to the model's glyph size, padded) and stored
that way, so training reads them as stored, and no epoch decodes a full page again.

The work goes in chunks of `CHUNK` images, each written as a small pack under OUT/.chunks and
kept: an interrupted run resumes at the first chunk not written. The chunks are merged into
OUT at the end (the compressed images are copied, not re-encoded) and removed.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from img2tex.data.dataset import worker_signals
from img2tex.data.packed import DEFAULT_LEVELS, is_packed, merge_packed, write_packed
from img2tex.data.split import Split, needs_rescale
from img2tex.errors import DatasetError, ImageError
from img2tex.fileio import atomic_write_text
from img2tex.images import ImageConfig, preprocess

#: Images per chunk: the unit of resumption and of parallel work.
CHUNK = 512
CHUNKS, SETTINGS, SKIPPED = ".chunks", "settings.json", "skipped.json"


@dataclass
class PackReport:
    """What `pack_split` did: images packed, rescaled, resumed from earlier chunks, and skipped
    (unreadable: blank, corrupt), with the first few reasons."""

    total: int
    packed: int = 0
    rescaled: int = 0
    resumed: int = 0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["skipped"] = len(self.skipped)
        return d


def pack_split(
    split: Split,
    out_dir: str | os.PathLike[str],
    image_cfg: ImageConfig | None = None,
    scale: float | str | None = "auto",
    levels: int = DEFAULT_LEVELS,
    processes: int = 1,
    progress: Callable[[int], None] | None = None,
) -> PackReport:
    """Pack `split` into `out_dir` (see the module docstring); returns a `PackReport`.

    `scale`: "auto" rescales the images the layout says to (`split.needs_rescale`), None
    rescales every image by its glyph-size estimate, a number scales every image by it, and 1.0
    stores every image as it is. `image_cfg`: the glyph size and limits rescaled images are
    brought to (the defaults of new models and of the shipped one). `processes` > 1 spreads the
    chunks over forked processes (Linux).
    """
    if isinstance(scale, str) and scale != "auto":
        raise DatasetError(f"scale must be a number, None or 'auto', not {scale!r}")
    cfg = image_cfg or ImageConfig()
    out = Path(out_dir)
    n = len(split)
    if n == 0:
        raise DatasetError("nothing to pack: the split is empty")
    work = out / CHUNKS
    settings = {
        "count": n,
        "first": split.name(0),
        "last": split.name(n - 1),
        "scale": scale,
        "levels": levels,
        "image": dataclasses.asdict(cfg),
    }
    if work.exists() and _read_json(work / SETTINGS) != settings:
        shutil.rmtree(work)  # chunks of another split or other settings: not ours to resume
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(work / SETTINGS, json.dumps(settings, indent=1) + "\n")

    report = PackReport(total=n)
    starts = list(range(0, n, CHUNK))
    todo = []
    for c, start in enumerate(starts):
        part = work / f"{c:06d}"
        done = _read_json(part / SKIPPED) if is_packed(part) else None
        if done is not None:
            _add(report, done, resumed=True)
            if progress is not None:
                progress(min(CHUNK, n - start))
        else:
            todo.append((c, start))
    job = _Job(split, work, cfg, scale, levels)
    for result in _run(job, todo, processes):
        _add(report, result)
        if progress is not None:
            progress(result["items"])
    parts = [work / f"{c:06d}" for c in range(len(starts))]
    merge_packed(out, parts)
    shutil.rmtree(work, ignore_errors=True)
    return report


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _add(report: PackReport, chunk: dict, resumed: bool = False) -> None:
    report.packed += chunk["packed"]
    report.rescaled += chunk["rescaled"]
    report.skipped += chunk["skipped"]
    if resumed:
        report.resumed += chunk["packed"]


@dataclass
class _Job:
    split: Split
    work: Path
    cfg: ImageConfig
    scale: float | str | None
    levels: int

    def image(self, i: int) -> tuple[np.ndarray, bool]:
        """Image i as it is stored, and whether it was rescaled."""
        a = self.split.image(i)
        if self.scale == "auto":
            if not needs_rescale(self.split, i):
                return a, False
            return preprocess(a, self.cfg, scale=None), True
        if self.scale == 1.0:
            return a, False
        return preprocess(a, self.cfg, scale=self.scale), True  # type: ignore[arg-type]

    def chunk(self, c: int, start: int) -> dict:
        """Write chunk c (items start..start+CHUNK) as a pack; its counts go beside it."""
        stop = min(start + CHUNK, len(self.split))
        skipped: list[str] = []
        rescaled = 0
        items = []
        for i in range(start, stop):
            name = self.split.name(i)
            try:
                a, r = self.image(i)
            except ImageError as exc:
                skipped.append(f"{name} ({exc})")
                continue
            rescaled += r
            items.append((name, a, self.split.formula(i)))
        part = self.work / f"{c:06d}"
        counts = {"packed": len(items), "rescaled": rescaled, "skipped": skipped, "items": stop - start}
        # The counts first: a chunk whose pack is complete (metadata written last) has them.
        atomic_write_text(part / SKIPPED, json.dumps(counts) + "\n")
        write_packed(part, items, levels=self.levels)
        return counts


#: The job a forked pool works on (set in the parent before forking).
_JOB: _Job | None = None


def _chunk(task: tuple[int, int]) -> dict:
    assert _JOB is not None, "only called in a pool forked by pack_split"
    return _JOB.chunk(*task)


def _run(job: _Job, todo: list[tuple[int, int]], processes: int):  # type: ignore[no-untyped-def]
    """Chunk results in any order, from this process or from forked ones (Linux: forking is
    unsafe on macOS; children read the open split without copying it)."""
    processes = min(processes, len(todo))
    if processes <= 1 or not sys.platform.startswith("linux"):
        for task in todo:
            yield job.chunk(*task)
        return
    global _JOB
    _JOB = job
    try:
        with multiprocessing.get_context("fork").Pool(processes, initializer=worker_signals) as pool:
            yield from pool.imap_unordered(_chunk, todo)
    finally:
        _JOB = None
