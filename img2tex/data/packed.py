"""Packed datasets: one rendered split in five files instead of 100k small PNGs.

Layout of a packed folder (no pickle anywhere):
  packed.json       {"format": "img2tex-packed", "version": 3, "count": n, "levels": L, "codec": "lzma-2bit-cols"}
  images.bin        the images, each compressed on its own (see below), back to back
  index.npy.xz      uint32 (n, 3): compressed byte length, height, width of each image (offsets
                    are the running sum of lengths)
  names.txt.xz      one image name per line
  formulas.txt.xz   one normalized formula per line

Everything but the images is read whole when a split is opened and is text-like, so it is
xz-compressed: formulas shrink ~5x (1.59 MB -> 0.31 MB for the 9,848 im2latex test formulas),
the index ~9x. Measured on the clean im2latex test renders (benchmarks/results/packed_size.md),
a packed split takes ~544 bytes per image, ~52 MiB per 100k (version 2, with plain-text formulas
and an int64 index, took ~709 bytes per image, ~68 MiB).

Image codec: each pixel becomes a level code (0 = white, levels-1 = black), codes are
bit-packed (1, 2, 4 or 8 bits by the number of levels) down each *column* (4 vertically adjacent
pixels per byte at 4 levels), and the packed bytes go through raw LZMA2 with lc=lp=pb=0 and a
64 KiB dictionary. Why (measured on im2latex's 1,200-formula sample rendered by `img2tex render`,
see benchmarks/results/render_throughput.md): formulas are wide and short, so columns are short
and repeat (glyph strokes, white gaps), which LZ matches far better than long rows; bit packing
shrinks match lengths; lc=lp=pb=0 fits data with no byte-level structure. Against zlib on byte
rows this is roughly half the size at 4 levels. Rejected by measurement: PNG 'Up' filter
(worse: it breaks LZ matches), a shared zlib preset dictionary (~1% gain), separate ink mask +
grey stream (worse), compressing groups of images (only ~10% more at 16 images per group, and
random access would decode 16x the pixels). Decoding stays one C call plus a few numpy ops per
image (~10k images/s), so random access needs no cache. Shapes live in the index, so bucketing
by size never decodes an image. `levels=256` stores pixels exactly.
"""

from __future__ import annotations

import io
import json
import lzma
import mmap
import os
import shutil
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from img2tex.data.folders import DatasetWarning, Example, read_processed
from img2tex.errors import DatasetError, ImageError, Img2TexError
from img2tex.fileio import atomic_write_bytes, atomic_write_text
from img2tex.images import load_image, normalize_contrast

FORMAT = "img2tex-packed"
VERSION = 3
CODEC = "lzma-2bit-cols"
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "lc": 0, "lp": 0, "pb": 0, "dict_size": 1 << 16}]
META = "packed.json"
DEFAULT_LEVELS = 4
INDEX, NAMES, FORMULAS, IMAGES = "index.npy.xz", "names.txt.xz", "formulas.txt.xz", "images.bin"
#: Files of the version-2 layout; re-packing a v2 folder removes them so no stale copy is left.
_V2_FILES = ("index.npy", "names.txt", "formulas.txt")
_XZ_PRESET = 9 | lzma.PRESET_EXTREME


def quantize(a: np.ndarray, levels: int) -> np.ndarray:
    """Map grey values to `levels` evenly spaced values in 0..255 (255 and 0 stay exact).

    Idempotent: an image already on the grid is returned unchanged, so packing rendered,
    already-packed images round-trips pixel for pixel.
    """
    if levels >= 256:
        return a
    step = 255.0 / (levels - 1)
    return (np.rint(np.rint(a.astype(np.float32) / step) * step)).astype(np.uint8)


def stretch_for_levels(a: np.ndarray, levels: int) -> np.ndarray:
    """The image with its background stretched to white and its ink to black, before quantizing.

    Why: the levels are fixed (0, 85, 170, 255 at 4), so a light-coloured or grey background
    (~212 after greying) falls between two of them and, with any noise, packs as a speckled
    mess that `preprocess` can no longer clean (it stretches levels too, but after the loss).
    Measured on the training mix: 11% of the `rough` renders and 4% of the KaTeX renders
    packed that way before. The stretch is `preprocess`'s own (`normalize_contrast`), so what
    the model reads is unchanged for every other image. A blank image is left as it is.
    """
    if levels >= 256:
        return a
    try:
        return normalize_contrast(a)
    except ImageError:
        return a


def _bits(levels: int) -> int:
    """Bits per packed pixel code: the smallest of 1, 2, 4, 8 that holds `levels` codes."""
    return next(b for b in (1, 2, 4, 8) if levels <= 1 << b)


def _step(levels: int) -> float:
    return 255.0 / (levels - 1)


def _encode(a: np.ndarray, levels: int) -> bytes:
    """Quantized image -> compressed column-major bit-packed level codes."""
    bits = _bits(levels)
    per = 8 // bits
    codes = (levels - 1) - np.rint(a.astype(np.float32) / _step(levels)).astype(np.uint8)
    h, w = a.shape
    hp = -(-h // per) * per
    cols = np.zeros((w, hp), np.uint8)
    cols[:, :h] = codes.T
    cols = cols.reshape(w, hp // per, per)
    packed = np.zeros(cols.shape[:2], np.uint8)
    for k in range(per):
        packed |= cols[:, :, k] << (8 - bits * (k + 1))
    return lzma.compress(packed.tobytes(), format=lzma.FORMAT_RAW, filters=_FILTERS)


def _unpack_table(levels: int) -> np.ndarray:
    """(256, pixels per byte) table: packed byte -> the grey values of its pixels."""
    bits = _bits(levels)
    per = 8 // bits
    byte = np.arange(256, dtype=np.int32)[:, None]
    codes = (byte >> (8 - bits * (np.arange(per) + 1))) & ((1 << bits) - 1)
    grey = np.clip(np.rint((levels - 1 - codes) * _step(levels)), 0, 255)
    return grey.astype(np.uint8)


def write_packed(
    out_dir: str | os.PathLike[str], items: Iterable[tuple[str, np.ndarray, str]], levels: int = DEFAULT_LEVELS
) -> int:
    """Write (name, image, formula) items as a packed dataset in `out_dir`; returns the count.

    Images are 2-D uint8 (255 background, 0 ink); with levels < 256 their levels are stretched
    (`stretch_for_levels`) and quantized first.
    Names and formulas must not hold line breaks. The files are written into OUT/.partial and
    moved in only once all of them are complete, the metadata file last: a write interrupted while
    encoding (the long part: minutes for 20k images) leaves a folder's previous pack whole, and a
    folder caught between the moves has no metadata, so it is never mistaken for a complete pack.
    """
    if not 2 <= levels <= 256:
        raise DatasetError(f"levels must be in 2..256, got {levels}")
    out = Path(out_dir)
    stage = out / ".partial"
    stage.mkdir(parents=True, exist_ok=True)
    blobs = bytearray()
    index: list[tuple[int, int, int]] = []
    names: list[str] = []
    formulas: list[str] = []
    for name, image, formula in items:
        a = np.asarray(image)
        if a.ndim != 2 or a.dtype != np.uint8 or a.size == 0:
            raise DatasetError(f"{name}: expected a non-empty 2-D uint8 image, got {a.dtype} {a.shape}")
        for what, text in (("name", name), ("formula", formula)):
            if "\n" in text or "\r" in text:
                raise DatasetError(f"{name}: {what} holds a line break")
        blob = _encode(quantize(stretch_for_levels(a, levels), levels), levels)
        if max(a.shape) > np.iinfo(np.uint32).max:
            raise DatasetError(f"{name}: image is too large to pack ({a.shape})")
        index.append((len(blob), a.shape[0], a.shape[1]))
        blobs += blob
        names.append(name)
        formulas.append(formula)
    return _finish(out, stage, bytes(blobs), index, names, formulas, levels)


def merge_packed(out_dir: str | os.PathLike[str], parts: Sequence[str | os.PathLike[str]]) -> int:
    """Write the packs `parts` (same levels), one after another, as one pack in `out_dir`; returns
    the count. The compressed images are copied as they are: nothing is decoded or re-encoded."""
    if not parts:
        raise DatasetError("no packs to merge")
    packs = [PackedSplit(p) for p in parts]
    levels = packs[0].levels
    if any(pk.levels != levels for pk in packs):
        raise DatasetError("packs to merge must have the same number of grey levels")
    blobs = bytearray()
    index: list[tuple[int, int, int]] = []
    names: list[str] = []
    formulas: list[str] = []
    for pk in packs:
        blobs += pk._blob[:]
        index.extend((int(n), int(h), int(w)) for _, n, h, w in pk._index)
        names += pk._names
        formulas += pk._formulas
    out = Path(out_dir)
    stage = out / ".partial"
    stage.mkdir(parents=True, exist_ok=True)
    return _finish(out, stage, bytes(blobs), index, names, formulas, levels)


def _finish(
    out: Path,
    stage: Path,
    blobs: bytes,
    index: list[tuple[int, int, int]],
    names: list[str],
    formulas: list[str],
    levels: int,
) -> int:
    """Write a pack's files into `stage`, then move them into `out`, the metadata file last."""
    buf = io.BytesIO()
    np.save(buf, np.array(index, dtype=np.uint32).reshape(-1, 3), allow_pickle=False)
    atomic_write_bytes(stage / INDEX, lzma.compress(buf.getvalue(), preset=_XZ_PRESET))
    atomic_write_bytes(stage / IMAGES, blobs)
    for fname, lines in ((NAMES, names), (FORMULAS, formulas)):
        atomic_write_bytes(
            stage / fname, lzma.compress("".join(t + "\n" for t in lines).encode("utf-8"), preset=_XZ_PRESET)
        )
    (out / META).unlink(missing_ok=True)
    for fname in (INDEX, IMAGES, NAMES, FORMULAS):
        os.replace(stage / fname, out / fname)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "count": len(names),
        "levels": levels,
        "codec": CODEC,
        "bytes": len(blobs),
    }
    atomic_write_text(out / META, json.dumps(meta, indent=1) + "\n")
    # After the metadata: what a killed earlier write left in the stage (a temporary file) must
    # not stop this one from completing.
    shutil.rmtree(stage, ignore_errors=True)
    for old in _V2_FILES:
        (out / old).unlink(missing_ok=True)
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


def _read_lines(path: Path) -> list[str]:
    return lzma.decompress(path.read_bytes()).decode("utf-8").split("\n")[:-1]


class PackedSplit:
    """Random access to a packed split; a `Split`.

    images.bin is memory-mapped, so opening is instant and memory is shared between
    data-loader workers; names, formulas and the index are read eagerly (small). Packed images
    are at the model's glyph size already (renders, or `pack_split` output): never rescaled.
    """

    rescale = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        p = self.path
        if not (p / META).is_file():
            raise DatasetError(f"{p}: not a packed dataset (no {META})")
        try:
            meta = json.loads((p / META).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("version") != VERSION or meta.get("codec") != CODEC:
                raise DatasetError(
                    f"{p}: unsupported packed format {meta.get('format')} v{meta.get('version')} "
                    f"(this img2tex reads v{VERSION}; re-pack the split: run `img2tex render` "
                    "with --packed on the same folder again, rendered images are kept)"
                )
            self.count = int(meta["count"])
            self.levels = int(meta["levels"])
            if not 2 <= self.levels <= 256:
                raise DatasetError(f"{p}: corrupt packed dataset (levels {self.levels})")
            self._table = _unpack_table(self.levels)
            lengths = np.load(io.BytesIO(lzma.decompress((p / INDEX).read_bytes())), allow_pickle=False)
            self._names = _read_lines(p / NAMES)
            self._formulas = _read_lines(p / FORMULAS)
            size = (p / IMAGES).stat().st_size
        except DatasetError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, lzma.LZMAError) as exc:
            raise DatasetError(f"{p}: corrupt packed dataset ({type(exc).__name__}: {exc})") from None
        if (
            lengths.dtype != np.uint32
            or lengths.shape != (self.count, 3)
            or len(self._names) != self.count
            or len(self._formulas) != self.count
        ):
            raise DatasetError(f"{p}: corrupt packed dataset (files disagree on the number of images)")
        # (n, 4) int64: offset, length, height, width; int64 so offsets cannot overflow.
        idx = np.zeros((self.count, 4), np.int64)
        idx[:, 1:] = lengths
        idx[1:, 0] = np.cumsum(idx[:-1, 1])
        self._index = idx
        if self.count and (int(idx[-1, 0] + idx[-1, 1]) > size or int(idx[:, 2:].min()) < 1):
            raise DatasetError(f"{p}: corrupt packed dataset (index points outside {IMAGES})")
        self._blob: mmap.mmap | bytes
        if size:
            with open(p / IMAGES, "rb") as fh:
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
        i = self._check(i)
        off, length, h, w = (int(v) for v in self._index[i])
        per = self._table.shape[1]
        hb = -(-h // per)
        try:
            raw = lzma.decompress(self._blob[off : off + length], format=lzma.FORMAT_RAW, filters=_FILTERS)
        except lzma.LZMAError as exc:
            raise DatasetError(f"{self.path}: image {i} ({self._names[i]}) is corrupt ({exc})") from None
        if len(raw) != hb * w:
            raise DatasetError(f"{self.path}: image {i} ({self._names[i]}) is corrupt (wrong size)")
        cols = self._table[np.frombuffer(raw, dtype=np.uint8)].reshape(w, hb * per)
        return np.ascontiguousarray(cols[:, :h].T)


def pack_processed(
    src: str | os.PathLike[str], out_dir: str | os.PathLike[str], split: str = "train", levels: int = DEFAULT_LEVELS
) -> int:
    """Pack a processed-layout folder (`img2tex render` output, processed im2latex) into `out_dir`.

    An image that cannot be read (a render that came out blank, e.g. a formula whose only
    content is a zero-width `\\lefteqn`) is left out with a DatasetWarning rather than
    failing the whole pack: one such render in 6,000 did (kpfonts, Ghostscript)."""
    examples = read_processed(src, split)
    if _pack_is_current(Path(out_dir), examples, levels):
        return len(examples)
    skipped: list[str] = []

    def items() -> Iterable[tuple[str, np.ndarray, str]]:
        for ex in examples:
            if ex.image_path is None:
                raise DatasetError(f"{src}: {ex.name} has no image")
            try:
                a = load_image(ex.image_path)
            except ImageError as exc:
                skipped.append(f"{ex.name} ({exc})")
                continue
            yield ex.name, a, ex.formula

    try:
        n = write_packed(out_dir, items(), levels=levels)
    except DatasetError:
        raise
    except Img2TexError as exc:
        raise DatasetError(f"{src}: {exc}") from None
    if skipped:
        warnings.warn(
            DatasetWarning(f"{src}: {len(skipped)} unreadable image(s) left out of the pack, e.g. {skipped[0]}"),
            stacklevel=2,
        )
    return n


def _pack_is_current(out: Path, examples: Sequence[Example], levels: int) -> bool:
    """Whether `out` already packs exactly these examples: a pack that opens (`PackedSplit`'s
    checks), with the same levels, names and formulas in order, and no image changed since it was
    written. A rerun of `img2tex render --packed` that rendered nothing new then skips re-encoding
    (about a minute per 20k images)."""
    try:
        pack = PackedSplit(out)
        if pack.levels != levels or pack._names != [ex.name for ex in examples]:
            return False
        if pack._formulas != [ex.formula for ex in examples]:
            return False
        written = (out / META).stat().st_mtime_ns
        return all(ex.image_path is not None and ex.image_path.stat().st_mtime_ns <= written for ex in examples)
    except (OSError, DatasetError):
        return False
