"""Image loading and preprocessing shared by training and prediction.

One convention everywhere: a formula image is a 2-D ``numpy.uint8`` array with 255 = white
background and 0 = black ink. `load_image` turns whatever a user has (PNG or JPEG in any mode,
black-on-transparent im2latex renders, white-on-dark screenshots) into that convention, and
`preprocess` turns it into what the model was trained on: cropped to the ink, rescaled so that its
glyphs have the height the training renders have (`ImageConfig.text_height`), clamped to the
maximum size and padded. Training and prediction must call the same `preprocess` with the same
`ImageConfig` (it is saved with the model), or the model sees a different world at prediction time.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from img2tex.arrays import median, percentile, unique_inverse
from img2tex.errors import ImageError

# Images above this many pixels are refused before their pixels are decoded: a tiny PNG can
# claim a huge canvas (a "decompression bomb"). An A4 page at 600 dpi is ~35 M pixels.
MAX_PIXELS = 50_000_000

# A pixel darker than this counts as ink when cropping: lenient enough to keep anti-aliased
# edges, strict enough to ignore JPEG noise around a white background.
CROP_LEVEL = 240

# A pixel darker than this counts as ink when measuring glyphs. Lighter than mid-grey on
# purpose: at 5-10 px glyph sizes a 50% threshold loses anti-aliased edge rows and makes the
# estimate drift with scale (measured on 150 renders: 0.5x scaled copies measured ~15% low at
# 128, within ~5% at 192).
INK_LEVEL = 192

# Below this darkness range (background level minus darkest ink) an image has no ink.
MIN_CONTRAST = 32

#: Longest side of the ink over its shortest beyond which an image is not read (a 1x20000 strip):
#: a long one-line formula in im2latex's look is about 60:1.
MAX_ASPECT = 150

# `estimate_text_height` works on at most this many pixels per side (min-pooled down first);
# glyphs in such huge images are tall enough to survive it.
MAX_ESTIMATE_SIDE = 1000

#: `trim_page` cuts images of at least this many pixels down to their ink (a full A4 page at
#: 200 dpi is 3.9M pixels; a long formula rendered at 600 dpi is well under this).
TRIM_PIXELS = 1_000_000
#: White kept around the ink by `trim_page`, in pixels.
TRIM_MARGIN = 16

# Automatic rescaling is limited to this range: beyond it the estimate is surely wrong.
MIN_AUTO_SCALE = 0.05
MAX_AUTO_SCALE = 8.0


@dataclass
class ImageConfig:
    """What the model was trained on; saved with the model (``dataclasses.asdict`` is JSON-safe).

    Defaults follow the look of im2latex-100k's processed images (rendered at 200 dpi, cropped,
    padded, downsampled by 2), the data the model is trained on:

    - ``pad``: white border on each side after cropping, 4 px as in the processed images
      (8 px before their 2x downsampling).
    - ``text_height``: the typical glyph height in px, as `estimate_text_height` measures it on
      those renders: measured on 300 im2markup sample formulas rendered at 200 dpi (12pt
      article), cropped, padded 8 px and halved (img2tex.rendering.renderer's defaults), the median
      estimate is 9.7 px (formula height median 44 px, as in im2latex). Images are rescaled so
      that their estimate matches this value; for data rendered otherwise, set it with
      `measure_text_height` on a sample of the training images.
    - ``max_height``/``max_width``: the largest content (without padding) the model is fed; larger
      images are scaled down, keeping their aspect ratio. In the same measurement the 99.5th
      percentiles are 138 px high and 661 px wide (padding included), so nearly all fit.
    - ``bucket``: batches are padded to multiples of this many pixels in both directions, so that
      images of similar size share a batch shape (a multiple of the encoder's total stride).
    - ``rescale_tolerance``: automatic rescaling leaves an image alone when its glyph-size
      estimate is within this relative distance of ``text_height``. Glyph size varies by about
      +-25% between formulas of the same font size (subscript-heavy vs capital-heavy), and the
      training renders carry +-15-20% scale jitter, so the model reads that range as it is;
      resampling a clean render to chase a noisy estimate only blurs it (measured on the
      examples/ images: more token errors with the rescale than without).
    """

    pad: int = 4
    text_height: float = 9.7
    max_height: int = 160
    max_width: int = 800
    bucket: int = 16
    rescale_tolerance: float = 0.25


#: What `load_image` (and so the Python API) reads: a path, the file's bytes, a PIL image or an array.
ImageSource = Union[str, Path, bytes, bytearray, memoryview, Image.Image, np.ndarray]


def load_image(source: ImageSource, name: str | None = None) -> np.ndarray:
    """Read an image as a 2-D uint8 array, ink dark on white.

    `source` is a PNG/JPEG path or its raw bytes, a PIL image (any mode), or a numpy array
    (H x W grey, H x W x 3 RGB or H x W x 4 RGBA; uint8, or floats in [0, 1]).
    ``name`` is only used in error messages (defaults to the path, "<bytes>", "<image>" or
    "<array>"). Raises `ImageError` for missing, corrupt, truncated, oversized, empty or
    non-image input.
    """
    if isinstance(source, np.ndarray):
        return _checked(ink_on_white(_array_image(source, name or "<array>")), name or "<array>")
    if isinstance(source, Image.Image):
        label = name or "<image>"
        _check_size(*source.size, label)
        return _checked(ink_on_white(source), label)
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        data = bytes(source)
    else:
        path = Path(source)
        label = name or str(path)
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if not path.is_file():
            raise ImageError(f"{label}: not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{label}: file is empty (0 bytes)")
    with warnings.catch_warnings():
        # PIL warns (then errors at 2x) on huge canvases at open time; treat both as refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
            _check_size(*im.size, label, bomb=True)
            im.load()
            im = ImageOps.exif_transpose(im)  # phone photos carry their rotation in EXIF
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{label}: image is too large; refusing it as a possible decompression bomb") from None
        except UnidentifiedImageError:
            raise ImageError(f"{label}: not an image PIL can read (expected PNG or JPEG)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"{label}: corrupt or truncated image ({exc})") from None
    return _checked(ink_on_white(im), label)


def _check_size(w: int, h: int, label: str, bomb: bool = False) -> None:
    """ImageError for an image without pixels or with more than MAX_PIXELS (`bomb`: a file,
    refused before its pixels are decoded)."""
    if w == 0 or h == 0:
        raise ImageError(f"{label}: image has no pixels ({w}x{h})")
    if w * h > MAX_PIXELS:
        why = "; refusing it as a possible decompression bomb" if bomb else ""
        raise ImageError(f"{label}: image is too large ({w}x{h} pixels, limit {MAX_PIXELS:,}){why}")


def _checked(a: np.ndarray, label: str) -> np.ndarray:
    """`a`, or ImageError when it holds no ink."""
    if int(a.max()) - int(a.min()) < MIN_CONTRAST:
        raise ImageError(f"{label}: image is blank (no ink found)")
    return a


def _array_image(a: np.ndarray, label: str) -> Image.Image:
    """A numpy image (grey, RGB or RGBA; uint8 or floats in [0, 1]) as a PIL image."""
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ImageError(f"{label}: expected an H x W, H x W x 3 or H x W x 4 array, got shape {a.shape}")
    _check_size(a.shape[1], a.shape[0], label)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ImageError(f"{label}: array holds NaN or infinite values")
        a = np.clip(a, 0.0, 1.0) * 255.0 + 0.5
    elif a.dtype.kind not in "ui" and a.dtype != np.bool_:
        raise ImageError(f"{label}: unsupported array type {a.dtype}")
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    a = np.clip(a, 0, 255).astype(np.uint8) if a.dtype != np.uint8 else a
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[a.shape[2] if a.ndim == 3 else 2]
    return Image.fromarray(np.ascontiguousarray(a), mode)


def ink_on_white(im: Image.Image) -> np.ndarray:
    """Any PIL image -> the 2-D uint8 convention: luminance, transparency on white, and light ink
    on a dark background (dark mode) inverted. `load_image` reads users' images through it and
    `img2tex render` its coloured training images, so both reach the model the same way."""
    a = _to_gray(im)
    return 255 - a if _dark_background(a) else a


def _to_gray(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> 2-D uint8 luminance; transparency composited onto white.

    Black-on-transparent renders (the original im2latex images) carry their ink only in the
    alpha channel; light ink on transparency (a dark-mode export) is turned into dark ink by
    using the alpha channel as the ink itself.
    """
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 255.0 if arr.max() <= 255 else (65535.0 if arr.max() <= 65535 else float(arr.max()))
        return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
    elif mode in ("L", "RGB", "RGBA", "LA"):
        pass
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "RGBa" or mode == "La":
        im = im.convert("RGBA" if mode == "RGBa" else "LA")
    elif "A" in im.getbands():
        im = im.convert("RGBA")
    else:  # 1, CMYK, YCbCr, LAB, HSV ...
        im = im.convert("RGB") if mode not in ("1",) else im.convert("L")
    if im.mode in ("RGBA", "LA"):
        # Only the box of pixels that are not fully transparent is computed: the rest composites
        # to white. im2latex-100k's full pages are ink on a transparent A4 page, and compositing
        # all of their 3.9M pixels in float took 170 ms a page.
        w, h = im.size
        box = im.getchannel("A").getbbox()
        if box is None:  # nothing opaque: a blank white image (refused as blank by the caller)
            return np.full((h, w), 255, np.uint8)
        x0, y0, x1, y1 = box
        sub = im if box == (0, 0, w, h) else im.crop(box)
        alpha = np.asarray(sub.getchannel("A"), dtype=np.float32) / 255.0
        lum = np.asarray(sub.convert("L"), dtype=np.float32)
        out = np.full((h, w), 255, np.uint8)
        out[y0:y1, x0:x1] = np.clip(np.rint(lum * alpha + 255.0 * (1.0 - alpha)), 0, 255)
        # Nothing dark once composited on white, yet something opaque: light ink on
        # transparency (a dark-mode export). Alpha is the ink. (Judged on the composite, not on
        # the mean of opaque pixels: a palette image with only pure white transparent keeps its
        # light anti-aliasing opaque, and must still read as the dark ink it is.)
        some_transparent = box != (0, 0, w, h) or alpha.min() < 1.0
        if some_transparent and (out < 128).mean() < 1e-3:
            ink = np.full((h, w), 255, np.uint8)
            ink[y0:y1, x0:x1] = np.clip(np.rint(255.0 - alpha * 255.0), 0, 255)
            return ink
        return out
    return np.asarray(im.convert("L"), dtype=np.uint8).copy()


def _dark_background(a: np.ndarray) -> bool:
    """True for light ink on a dark background (screenshots in dark mode).

    The background is what the border shows; the whole-image median breaks ties when the image
    is cropped so tightly that the border is mostly ink.
    """
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    b = median(border)
    if b < 96:
        return True
    if b > 160:
        return False
    return median(a) < 128


def normalize_contrast(a: np.ndarray) -> np.ndarray:
    """Stretch levels so the background is 255 and the darkest ink 0 (grey paper, faint ink).

    The background level is the 75th percentile (formula images are mostly background, even
    tightly cropped ones). A clean render (white background, black ink) is returned unchanged.
    """
    bg = percentile(a, 75)
    ink = percentile(a, 0.5) if a.size > 400 else float(a.min())
    ink = min(ink, float(a.min()) + 16.0)
    if bg - ink < MIN_CONTRAST:
        raise ImageError("image is blank (no ink darker than its background)")
    if bg >= 254.5 and ink <= 0.5:
        return a
    out = (a.astype(np.float32) - ink) * (255.0 / (bg - ink))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def crop_to_content(a: np.ndarray, level: int = CROP_LEVEL) -> np.ndarray:
    """The smallest sub-array holding every pixel darker than ``level``; ImageError if none."""
    ink = a < level
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        raise ImageError("image is blank (no ink to crop to)")
    cols = np.flatnonzero(ink.any(axis=0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def trim_page(a: np.ndarray) -> np.ndarray:
    """A large image cut down to its ink and a margin, before the finer steps of `preprocess`.

    im2latex-100k's distributed images are whole A4 pages (1654x2339) holding one formula:
    `normalize_contrast`'s percentiles over all 3.9M pixels took most of a page's preprocessing.
    The ink is found against the border's level (a page's background), and a margin of
    `TRIM_MARGIN` px keeps the background the finer steps measure. Images under `TRIM_PIXELS`
    pixels, and images whose ink fills most of them, are returned as they are.
    """
    if a.size < TRIM_PIXELS:
        return a
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    ink = a < int(median(border)) - MIN_CONTRAST
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return a
    cols = np.flatnonzero(ink.any(axis=0))
    m = TRIM_MARGIN
    r0, r1 = max(0, rows[0] - m), min(a.shape[0], rows[-1] + 1 + m)
    c0, c1 = max(0, cols[0] - m), min(a.shape[1], cols[-1] + 1 + m)
    if (r1 - r0) * (c1 - c0) > a.size // 2:
        return a
    return a[r0:r1, c0:c1]


def _component_boxes(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heights and widths of the 8-connected components of a boolean image (numpy only).

    Works on horizontal runs instead of pixels: runs of adjacent rows that touch are joined with
    a vectorised union (min-label propagation with pointer jumping), so the cost grows with the
    number of runs, not pixels, and no Python loop runs per pixel or per run.
    """
    h, w = ink.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = ink
    d = np.diff(padded, axis=1)
    sr, sc = np.nonzero(d == 1)  # run starts (column of first ink pixel)
    er, ec = np.nonzero(d == -1)  # run ends (column after the last ink pixel)
    n = sr.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    start, end = sc.astype(np.int64), ec.astype(np.int64) - 1  # inclusive columns
    row = sr.astype(np.int64)
    stride = w + 4
    start_key = row * stride + start + 1
    end_key = row * stride + end + 1
    # For run j in row r, the runs of row r-1 touching it (8-connectivity) are those with
    # end >= start_j - 1 and start <= end_j + 1: a contiguous range of the sorted runs.
    lo = np.searchsorted(end_key, (row - 1) * stride + start, side="left")
    hi = np.searchsorted(start_key, (row - 1) * stride + end + 2, side="right")
    counts = np.maximum(hi - lo, 0)
    labels = np.arange(n)
    total = int(counts.sum())
    if total:
        u = np.repeat(np.arange(n), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        v = np.repeat(lo, counts) + offsets
        while True:
            m = np.minimum(labels[u], labels[v])
            new = labels.copy()
            np.minimum.at(new, u, m)
            np.minimum.at(new, v, m)
            new = new[new]
            new = new[new]
            if np.array_equal(new, labels):
                break
            labels = new
    uniq, comp = unique_inverse(labels)
    k = uniq.size
    top = np.full(k, h, dtype=np.int64)
    bottom = np.full(k, -1, dtype=np.int64)
    left = np.full(k, w, dtype=np.int64)
    right = np.full(k, -1, dtype=np.int64)
    np.minimum.at(top, comp, row)
    np.maximum.at(bottom, comp, row)
    np.minimum.at(left, comp, start)
    np.maximum.at(right, comp, end)
    return bottom - top + 1, right - left + 1


def estimate_text_height(a: np.ndarray) -> float:
    """Typical glyph height in pixels: a scale measure that does not depend on formula size.

    The mean height of the letter-sized connected components: flat ones (fraction bars,
    minus and equals signs) and specks are ignored, then components far from their median
    (dots, big operators, tall delimiters, square roots) are dropped and the rest averaged. A
    mean rather than a second median because glyph heights are bimodal (x-height vs capitals
    and digits) and a median flips between the two modes under small changes of scale. Returns
    0.0 when no ink is found. Huge images are min-pooled (ink-preserving) to at most
    `MAX_ESTIMATE_SIDE` px per side first, so the cost stays bounded.
    """
    factor = max(1, math.ceil(max(a.shape) / MAX_ESTIMATE_SIDE))
    if factor > 1:
        h, w = a.shape
        ph, pw = -h % factor, -w % factor
        b = np.pad(a, ((0, ph), (0, pw)), constant_values=255)
        b = b.reshape(b.shape[0] // factor, factor, b.shape[1] // factor, factor).min(axis=(1, 3))
    else:
        b = a
    heights, widths = _component_boxes(b < INK_LEVEL)
    if heights.size == 0:
        return 0.0
    keep = (heights * 3 >= widths) & (heights * widths >= 3)
    hs = heights[keep].astype(np.float64)
    if hs.size == 0:
        return median(heights) * factor
    first = median(hs)
    near = hs[(hs >= 0.5 * first) & (hs <= 2.0 * first)]
    if near.size:
        hs = near
    return float(hs.mean()) * factor


def measure_text_height(arrays: Iterable[np.ndarray]) -> float:
    """Median `estimate_text_height` over sample images (e.g. ~200 training renders).

    For setting `ImageConfig.text_height` from the data a model is trained on, when that data
    was rendered with other settings than the default (another dpi or font size).
    """
    ests = [e for e in (estimate_text_height(crop_to_content(a)) for a in arrays) if e > 0]
    if not ests:
        raise ImageError("no ink found in any of the sample images")
    return median(ests)


def _resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize with area averaging when shrinking (keeps thin strokes grey, not dropped)."""
    if (height, width) == a.shape:
        return a
    shrinking = height < a.shape[0] and width < a.shape[1]
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    im = Image.fromarray(a, mode="L").resize((width, height), resample=resample)
    return np.asarray(im, dtype=np.uint8)


def resize_by(a: np.ndarray, factor: float) -> np.ndarray:
    """The image as if it had been rendered `factor` times as large (area-averaged when shrinking).

    Training uses it to show the model renders at other resolutions than its own, so that the
    glyph-size rescale in `preprocess` meets at prediction time the blur it was trained on.
    """
    if not (factor > 0 and math.isfinite(factor)):
        raise ImageError(f"resize factor must be a positive number, got {factor}")
    h, w = a.shape
    return _resize(a, max(1, round(h * factor)), max(1, round(w * factor)))


def preprocess(a: np.ndarray, cfg: ImageConfig, scale: float | None = None) -> np.ndarray:
    """Crop to the ink, rescale to the model's glyph size, clamp to the max size, pad.

    With ``scale=None`` the scale is chosen so that `estimate_text_height` of the result is
    ``cfg.text_height`` (so a photo, a screenshot at any zoom and a training render all reach
    the model at the same glyph size); a given ``scale`` is used as is (for callers who know
    better, e.g. training images that are already at the reference scale: ``scale=1.0``).
    """
    if a.ndim != 2 or a.dtype != np.uint8:
        raise ImageError(f"expected a 2-D uint8 image, got {a.ndim}-D {a.dtype}")
    a = crop_to_content(normalize_contrast(trim_page(a)))
    h, w = a.shape
    if max(h, w) > MAX_ASPECT * min(h, w):
        raise ImageError(f"the ink is a {w}x{h} px strip: too thin to read as a formula")
    if scale is None:
        est = estimate_text_height(a)
        scale = cfg.text_height / est if est > 0 else 1.0
        if abs(math.log(scale)) <= math.log1p(cfg.rescale_tolerance):
            scale = 1.0
        scale = min(max(scale, MIN_AUTO_SCALE), MAX_AUTO_SCALE)
    elif not (scale > 0 and math.isfinite(scale)):
        raise ImageError(f"scale must be a positive number, got {scale}")
    h, w = a.shape
    nh, nw = h * scale, w * scale
    fit = min(1.0, cfg.max_height / nh, cfg.max_width / nw)
    nh, nw = max(1, round(nh * fit)), max(1, round(nw * fit))
    a = _resize(a, nh, nw)
    p = cfg.pad
    return np.pad(a, ((p, p), (p, p)), constant_values=255) if p > 0 else a


def bucket_shape(h: int, w: int, cfg: ImageConfig) -> tuple[int, int]:
    """(h, w) rounded up to the bucket grid: the batch shape an image of that size joins."""
    g = max(1, cfg.bucket)
    return (-(-h // g) * g, -(-w // g) * g)


def pad_to(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad with background on the bottom and right to exactly (height, width).

    Top-left placement keeps the formula start at a fixed place for the encoder's positions.
    """
    h, w = a.shape
    if h > height or w > width:
        raise ValueError(f"cannot pad a {h}x{w} image to {height}x{width}")
    return np.pad(a, ((0, height - h), (0, width - w)), constant_values=255)


def batch_arrays(arrays: Sequence[np.ndarray], bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed uint8 ink-on-white arrays -> the network's input: (B, 1, H, W) float32 ink
    intensity (1 - px/255, 0 on padding) and a (B, H, W) bool mask of real pixels, padded on the
    bottom/right to the batch maximum rounded up to `bucket` pixels."""
    g = max(1, bucket)
    hmax = -(-max(a.shape[0] for a in arrays) // g) * g
    wmax = -(-max(a.shape[1] for a in arrays) // g) * g
    images = np.zeros((len(arrays), 1, hmax, wmax), np.float32)
    mask = np.zeros((len(arrays), hmax, wmax), bool)
    for j, a in enumerate(arrays):
        h, w = a.shape
        images[j, 0, :h, :w] = 1.0 - a.astype(np.float32) / 255.0
        mask[j, :h, :w] = True
    return images, mask
