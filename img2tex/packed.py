"""Packed datasets: one rendered split in five files instead of 100k small PNGs.

Layout of a packed folder (no pickle anywhere):
  packed.json   {"format": "img2tex-packed", "version": 1, "count": n, "levels": L, "codec": "zlib"}
  index.npy     int64 (n, 4): byte offset, byte length, height, width of each image
  images.bin    the images, each its raw uint8 rows compressed with zlib, back to back
  names.txt     one image name per line
  formulas.txt  one normalized formula per line

Why this codec (measured on 2,000 rendered formulas and on im2latex's 1,200-formula sample,
see benchmarks/results/render_throughput.md): per-image PNG costs ~1.4 KB (corpus) to ~2.7 KB
(im2latex-like); OCR does not need 256 grey levels, and zlib on raw rows quantized to 4 levels
is ~2x smaller than PNG, decodes at tens of thousands of images/s (no PNG parsing) and keeps
random access (one zlib call per image, no shards to cache). Shapes live in the index, so
bucketing by size never decodes an image. `levels=256` stores pixels exactly.
"""

from __future__ import annotations

import json
import mmap
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from img2tex.errors import DatasetError, Img2TexError
from img2tex.fileio import atomic_write_bytes, atomic_write_text

FORMAT = "img2tex-packed"
VERSION = 1
META = "packed.json"
DEFAULT_LEVELS = 4


def quantize(a: np.ndarray, levels: int) -> np.ndarray:
    """Map grey values to `levels` evenly spaced values in 0..255 (255 and 0 stay exact).

    Idempotent: an image already on the grid is returned unchanged, so packing rendered,
    already-packed images round-trips pixel for pixel.
    """
    if levels >= 256:
        return a
    step = 255.0 / (levels - 1)
    return (np.rint(np.rint(a.astype(np.float32) / step) * step)).astype(np.uint8)


def write_packed(out_dir: str | os.PathLike[str], items: Iterable[tuple[str, np.ndarray, str]],
                 levels: int = DEFAULT_LEVELS) -> int:
    """Write (name, image, formula) items as a packed dataset in `out_dir`; returns the count.

    Images are 2-D uint8 (255 background, 0 ink); with levels < 256 they are quantized first.
    Names and formulas must not hold line breaks. The metadata file is written last, so a folder
    interrupted mid-write is never mistaken for a complete packed dataset.
    """
    if not 2 <= levels <= 256:
        raise DatasetError(f"levels must be in 2..256, got {levels}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / META).unlink(missing_ok=True)
    blobs = bytearray()
    index: list[tuple[int, int, int, int]] = []
    names: list[str] = []
    formulas: list[str] = []
    for name, image, formula in items:
        a = np.asarray(image)
        if a.ndim != 2 or a.dtype != np.uint8 or a.size == 0:
            raise DatasetError(f"{name}: expected a non-empty 2-D uint8 image, got {a.dtype} {a.shape}")
        for what, text in (("name", name), ("formula", formula)):
            if "\n" in text or "\r" in text:
                raise DatasetError(f"{name}: {what} holds a line break")
        blob = zlib.compress(np.ascontiguousarray(quantize(a, levels)).tobytes(), 9)
        index.append((len(blobs), len(blob), a.shape[0], a.shape[1]))
        blobs += blob
        names.append(name)
        formulas.append(formula)
    idx = np.array(index, dtype=np.int64).reshape(-1, 4)
    import io

    buf = io.BytesIO()
    np.save(buf, idx, allow_pickle=False)
    atomic_write_bytes(out / "index.npy", buf.getvalue())
    atomic_write_bytes(out / "images.bin", bytes(blobs))
    atomic_write_text(out / "names.txt", "".join(n + "\n" for n in names))
    atomic_write_text(out / "formulas.txt", "".join(f + "\n" for f in formulas))
    meta = {"format": FORMAT, "version": VERSION, "count": len(names), "levels": levels, "codec": "zlib",
            "bytes": len(blobs)}
    atomic_write_text(out / META, json.dumps(meta, indent=1) + "\n")
    return len(names)


def is_packed(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a folder holding a packed dataset's metadata file."""
    p = Path(path)
    if not (p / META).is_file():
        return False
    try:
        return json.loads((p / META).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class PackedDataset:
    """Random access to a packed split; implements datasets.FormulaImages.

    images.bin is memory-mapped, so opening is instant and memory is shared between
    data-loader workers; names, formulas and the index are read eagerly (small).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        p = self.path
        if not (p / META).is_file():
            raise DatasetError(f"{p}: not a packed dataset (no {META})")
        try:
            meta = json.loads((p / META).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("version") != VERSION:
                raise DatasetError(f"{p}: unsupported packed format {meta.get('format')} v{meta.get('version')}")
            self.count = int(meta["count"])
            self.levels = int(meta["levels"])
            self._index = np.load(p / "index.npy", allow_pickle=False)
            self._names = (p / "names.txt").read_text(encoding="utf-8").split("\n")[:-1]
            self._formulas = (p / "formulas.txt").read_text(encoding="utf-8").split("\n")[:-1]
            size = (p / "images.bin").stat().st_size
        except DatasetError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{p}: corrupt packed dataset ({type(exc).__name__}: {exc})") from None
        idx = self._index
        if (idx.dtype != np.int64 or idx.shape != (self.count, 4) or len(self._names) != self.count
                or len(self._formulas) != self.count):
            raise DatasetError(f"{p}: corrupt packed dataset (files disagree on the number of images)")
        if self.count and (int((idx[:, 0] + idx[:, 1]).max()) > size or int(idx.min()) < 0
                           or int(idx[:, 2:].min()) < 1):
            raise DatasetError(f"{p}: corrupt packed dataset (index points outside images.bin)")
        self._blob: mmap.mmap | bytes
        if size:
            with open(p / "images.bin", "rb") as fh:
                self._blob = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self._blob = b""

    def __len__(self) -> int:
        return self.count

    def _check(self, i: int) -> int:
        if not -self.count <= i < self.count:
            raise IndexError(f"index {i} out of range for {self.count} images")
        return i % self.count if self.count else i

    def name(self, i: int) -> str:
        return self._names[self._check(i)]

    def formula(self, i: int) -> str:
        return self._formulas[self._check(i)]

    def shape(self, i: int) -> tuple[int, int]:
        """(height, width) without decoding."""
        _, _, h, w = self._index[self._check(i)]
        return int(h), int(w)

    def shapes(self) -> np.ndarray:
        """(n, 2) int64 array of (height, width) for all images, for bucketing."""
        return self._index[:, 2:4].copy()

    def image(self, i: int) -> np.ndarray:
        off, length, h, w = (int(v) for v in self._index[self._check(i)])
        try:
            raw = zlib.decompress(self._blob[off:off + length])
        except zlib.error as exc:
            raise DatasetError(f"{self.path}: image {i} ({self._names[i]}) is corrupt ({exc})") from None
        if len(raw) != h * w:
            raise DatasetError(f"{self.path}: image {i} ({self._names[i]}) has the wrong size")
        return np.frombuffer(raw, dtype=np.uint8).reshape(h, w)


def pack_processed(src: str | os.PathLike[str], out_dir: str | os.PathLike[str], split: str = "train",
                   levels: int = DEFAULT_LEVELS) -> int:
    """Pack a processed-layout folder (`img2tex render` output, processed im2latex) into `out_dir`."""
    from img2tex.datasets import read_processed
    from img2tex.images import load_image

    examples = read_processed(src, split)

    def items() -> Iterable[tuple[str, np.ndarray, str]]:
        for ex in examples:
            if ex.image_path is None:
                raise DatasetError(f"{src}: {ex.name} has no image")
            yield ex.name, load_image(ex.image_path), ex.formula

    try:
        return write_packed(out_dir, items(), levels=levels)
    except DatasetError:
        raise
    except Img2TexError as exc:
        raise DatasetError(f"{src}: {exc}") from None
