"""Tests for img2tex.images: loading every image mode, refusals, cropping, scale estimation."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from img2tex import images
from img2tex.errors import ImageError
from img2tex.images import (
    ImageConfig,
    bucket_shape,
    crop_to_content,
    estimate_text_height,
    load_image,
    pad_to,
    preprocess,
    resize_by,
)


def formula_image(size: int = 40) -> np.ndarray:
    """Black text on white drawn with PIL's bundled font: a stand-in for a formula render."""
    font = ImageFont.load_default(size=size)
    im = Image.new("L", (size * 14, size * 3), 255)
    ImageDraw.Draw(im).text((size, size // 2), "E = mc2 + ab(x_k) - dy/dt", fill=0, font=font)
    return np.asarray(im).copy()


def png_bytes(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def ink_box(a: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(a < 128)
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


# ---------------------------------------------------------------- load_image: modes


@pytest.fixture()
def glyph() -> np.ndarray:
    a = np.full((30, 50), 255, dtype=np.uint8)
    a[10:20, 15:35] = 0
    return a


def test_grayscale_png_roundtrip(tmp_path: Path, glyph: np.ndarray) -> None:
    p = tmp_path / "g.png"
    Image.fromarray(glyph).save(p)
    out = load_image(p)
    assert out.dtype == np.uint8 and out.ndim == 2
    assert np.array_equal(out, glyph)


def test_rgba_black_on_transparent_is_ink_on_white(glyph: np.ndarray) -> None:
    # The original im2latex renders: RGB all black, ink only in alpha.
    rgba = np.zeros((30, 50, 4), dtype=np.uint8)
    rgba[..., 3] = 255 - glyph
    out = load_image(png_bytes(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0] == 255 and out[15, 20] == 0
    assert ink_box(out) == (10, 19, 15, 34)


def test_rgba_white_ink_on_transparent_uses_alpha(glyph: np.ndarray) -> None:
    rgba = np.full((30, 50, 4), 255, dtype=np.uint8)
    rgba[..., 3] = 255 - glyph
    out = load_image(png_bytes(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0] == 255 and out[15, 20] == 0


def test_la_palette_16bit_rgb_1bit_jpeg(glyph: np.ndarray) -> None:
    la = Image.fromarray(np.stack([np.zeros_like(glyph), 255 - glyph], axis=-1), "LA")
    pal = Image.fromarray(glyph).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    i16 = Image.fromarray(glyph.astype(np.uint16) * 257)  # 16-bit grayscale ("I;16")
    rgb = Image.fromarray(np.stack([glyph] * 3, axis=-1), "RGB")
    one = Image.fromarray(glyph).convert("1")
    for im, fmt in [(la, "PNG"), (pal, "PNG"), (i16, "PNG"), (rgb, "PNG"), (one, "PNG"), (rgb, "JPEG")]:
        out = load_image(png_bytes(im, fmt), name=f"{im.mode}.{fmt}")
        assert out.shape == glyph.shape, im.mode
        assert out[2, 2] > 230 and out[15, 25] < 30, (im.mode, fmt)


def test_palette_with_transparency(glyph: np.ndarray) -> None:
    rgba = np.zeros((30, 50, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(glyph < 128, 255, 0)
    pal = Image.fromarray(rgba, "RGBA").convert("P")
    assert "transparency" in Image.open(io.BytesIO(png_bytes(pal))).info
    out = load_image(png_bytes(pal))
    assert out[0, 0] == 255 and out[15, 20] == 0


def test_white_on_dark_is_inverted(glyph: np.ndarray) -> None:
    out = load_image(png_bytes(Image.fromarray(255 - glyph)))
    assert np.array_equal(out, glyph)


# ---------------------------------------------------------------- load_image: refusals


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="nope.png: no such file"):
        load_image(tmp_path / "nope.png")


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.png"
    p.write_text("hello, not a png")
    with pytest.raises(ImageError, match="notes.png: not an image"):
        load_image(p)


def test_empty_file_and_blank_image(tmp_path: Path) -> None:
    p = tmp_path / "zero.png"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="zero.png: file is empty"):
        load_image(p)
    with pytest.raises(ImageError, match="blank"):
        load_image(png_bytes(Image.new("L", (40, 20), 255)))
    with pytest.raises(ImageError, match="blank"):  # fully transparent RGBA
        load_image(png_bytes(Image.new("RGBA", (40, 20), (0, 0, 0, 0))))


def test_truncated_png(tmp_path: Path) -> None:
    data = png_bytes(Image.fromarray(formula_image()))
    p = tmp_path / "cut.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png: corrupt or truncated"):
        load_image(p)


def _huge_png(width: int, height: int) -> bytes:
    """A valid, small PNG claiming a huge 1-bit canvas (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    raw = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_decompression_bomb_refused() -> None:
    data = _huge_png(20_000, 3_000)  # 60 M pixels, above MAX_PIXELS, a few KB on disk
    assert len(data) < 200_000
    with pytest.raises(ImageError, match="too large"):
        load_image(data, name="bomb.png")
    with pytest.raises(ImageError, match="too large"):  # beyond PIL's own bomb limit as well
        load_image(_huge_png(20_000, 10_000), name="bigger.png")


# ---------------------------------------------------------------- crop / estimate / preprocess


def test_crop_to_content(glyph: np.ndarray) -> None:
    c = crop_to_content(glyph)
    assert c.shape == (10, 20) and (c == 0).all()
    with pytest.raises(ImageError):
        crop_to_content(np.full((5, 5), 255, np.uint8))


def test_estimate_text_height_of_synthetic_glyphs() -> None:
    a = np.full((60, 200), 255, np.uint8)
    for x in range(10, 150, 20):
        a[20:32, x : x + 8] = 0  # six 12 px "letters"
    a[40:42, 10:190] = 0  # a fraction bar: flat, ignored
    a[50:52, 100:102] = 0  # a dot: a speck, ignored
    a[5:58, 180:186] = 0  # a tall delimiter: far from the median, ignored
    assert estimate_text_height(a) == pytest.approx(12.0)
    assert estimate_text_height(np.full((10, 10), 255, np.uint8)) == 0.0


@pytest.mark.parametrize("factor", [0.7, 1.5])
def test_preprocess_is_scale_invariant(factor: float) -> None:
    cfg = ImageConfig()
    a = formula_image(40)
    h, w = a.shape
    b = np.asarray(Image.fromarray(a).resize((round(w * factor), round(h * factor)), Image.Resampling.LANCZOS))
    pa, pb = preprocess(a, cfg), preprocess(b, cfg)
    assert pb.shape[0] == pytest.approx(pa.shape[0], rel=0.15)
    assert pb.shape[1] == pytest.approx(pa.shape[1], rel=0.15)
    # and the glyphs really are at the reference height
    assert estimate_text_height(pa) == pytest.approx(cfg.text_height, rel=0.15)


def test_resize_by_scales_both_sides_and_keeps_ink() -> None:
    a = formula_image(40)
    h, w = a.shape
    small, big = resize_by(a, 0.5), resize_by(a, 1.5)
    assert small.shape == (round(h * 0.5), round(w * 0.5)) and big.shape == (round(h * 1.5), round(w * 1.5))
    assert small.min() < 128 and small.dtype == np.uint8  # area averaging keeps strokes dark enough
    assert estimate_text_height(big) == pytest.approx(1.5 * estimate_text_height(a), rel=0.15)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ImageError):
            resize_by(a, bad)


def test_preprocess_given_scale_pad_and_clamp(glyph: np.ndarray) -> None:
    cfg = ImageConfig(pad=3, max_height=8, max_width=100)
    out = preprocess(glyph, ImageConfig(pad=3), scale=1.0)
    assert out.shape == (10 + 6, 20 + 6)
    assert (out[:3] == 255).all() and (out[:, -3:] == 255).all()
    clamped = preprocess(glyph, cfg, scale=2.0)  # 20x40 content -> fits 8 high, aspect kept
    assert clamped.shape == (8 + 6, 16 + 6)
    with pytest.raises(ImageError):
        preprocess(glyph, cfg, scale=0.0)


def test_preprocess_grey_background_photo() -> None:
    a = formula_image(30).astype(np.int16)
    photo = np.clip(a * 0.6 + 70, 0, 255).astype(np.uint8)  # grey paper, grey ink
    out = preprocess(photo, ImageConfig())
    assert out[0, 0] == 255 and out.min() < 40


def test_preprocess_is_fast_on_a_wide_image() -> None:
    import time

    a = np.tile(formula_image(60), (1, 4))[:, :2000]
    t = time.perf_counter()
    preprocess(a, ImageConfig())
    assert time.perf_counter() - t < 1.0


def test_measure_text_height_matches_default_on_im2latex_look() -> None:
    # The same glyph drawn at 2x then halved, like the processed renders: a sanity check that
    # the measurement is the median of per-image estimates and is scale-proportional.
    a = formula_image(40)
    small = np.asarray(Image.fromarray(a).resize((a.shape[1] // 2, a.shape[0] // 2), Image.Resampling.LANCZOS))
    m_big, m_small = images.measure_text_height([a, a, a]), images.measure_text_height([small])
    assert m_big == pytest.approx(estimate_text_height(crop_to_content(a)))
    assert m_small == pytest.approx(m_big / 2, rel=0.15)
    with pytest.raises(ImageError):
        images.measure_text_height([np.full((4, 4), 255, np.uint8)])


def test_bucket_shape_and_pad_to() -> None:
    cfg = ImageConfig(bucket=16)
    assert bucket_shape(33, 100, cfg) == (48, 112)
    assert bucket_shape(32, 96, cfg) == (32, 96)
    a = np.zeros((3, 5), np.uint8)
    p = pad_to(a, 4, 8)
    assert p.shape == (4, 8) and (p[:3, :5] == 0).all() and (p[3] == 255).all() and (p[:, 5:] == 255).all()
    with pytest.raises(ValueError):
        pad_to(a, 2, 8)


def test_config_is_json_serialisable() -> None:
    d = dataclasses.asdict(ImageConfig())
    assert ImageConfig(**json.loads(json.dumps(d))) == ImageConfig()
    assert images.MAX_PIXELS > 0


def test_auto_scale_leaves_near_reference_images_alone() -> None:
    """Within rescale_tolerance of the reference glyph size the image is not resampled; far
    outside it, it is."""
    a = formula_image()
    est = estimate_text_height(crop_to_content(a))
    near = ImageConfig(text_height=est * 1.1, rescale_tolerance=0.25)
    assert np.array_equal(preprocess(a, near), preprocess(a, near, scale=1.0))
    far = ImageConfig(text_height=est * 1.6, rescale_tolerance=0.25)
    assert preprocess(a, far).shape[0] > preprocess(a, far, scale=1.0).shape[0]


# ---------------------------------------------------------------- hostile and unusual images


def _similar(a: np.ndarray, b: np.ndarray) -> bool:
    """Same size and mostly the same ink (JPEG and palette rounding allowed)."""
    return a.shape == b.shape and float(np.mean(np.abs(a.astype(int) - b.astype(int)) > 64)) < 0.02


def test_exif_orientation_is_honoured() -> None:
    """A phone photo stored rotated, with its rotation in EXIF, reads upright."""
    upright = formula_image(20)
    stored = Image.fromarray(upright).rotate(90, expand=True)  # as the camera wrote the pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    assert _similar(load_image(buf.getvalue()), upright)


def test_cmyk_jpeg_and_palette_with_opaque_antialiasing() -> None:
    base = formula_image(20)
    cmyk = png_bytes(Image.fromarray(base).convert("CMYK"), "JPEG")
    assert _similar(load_image(cmyk), base)
    # Only pure white transparent: the light anti-aliasing stays opaque, the ink must stay ink
    # (not be mistaken for light ink on transparency).
    pal = Image.fromarray(base).convert("P")
    white = pal.getpixel((0, 0))
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=white)
    assert _similar(load_image(buf.getvalue()), base)


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_animated_images_read_their_first_frame(fmt: str) -> None:
    base = formula_image(20)
    first = Image.fromarray(base).convert("P" if fmt == "GIF" else "L")
    black = Image.new(first.mode, first.size, 0)
    buf = io.BytesIO()
    first.save(buf, fmt, save_all=True, append_images=[black], duration=100)
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 2
    assert _similar(load_image(buf.getvalue()), base)


@pytest.mark.parametrize("shape", [(1, 20000), (20000, 1), (3, 5000)])
def test_strips_are_refused_in_one_line(shape: tuple[int, int]) -> None:
    a = np.full(shape, 255, np.uint8)
    a.reshape(-1)[::7] = 0
    arr = load_image(png_bytes(Image.fromarray(a)))
    with pytest.raises(ImageError, match="strip: too thin"):
        preprocess(arr, ImageConfig())


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_give_an_image_error_or_an_image(data: bytes) -> None:
    try:
        a = load_image(data)
    except ImageError:
        return
    assert a.ndim == 2 and a.dtype == np.uint8


@settings(max_examples=100, deadline=2000)
@given(st.binary(min_size=8, max_size=600))
def test_damaged_png_gives_an_image_error_or_an_image(tail: bytes) -> None:
    """A real PNG header followed by anything: damaged files fail cleanly."""
    head = png_bytes(Image.fromarray(formula_image(10)))[:33]  # signature + IHDR
    try:
        a = load_image(head + tail)
    except ImageError:
        return
    assert a.ndim == 2


def test_numpy_arrays_and_pil_images_are_read_like_files() -> None:
    base = formula_image(20)
    rgb = np.stack([base] * 3, axis=-1)
    for src in (base, rgb, base.astype(np.float32) / 255, Image.fromarray(base)):
        assert np.array_equal(load_image(src), base), type(src)
    assert np.array_equal(load_image(base > 128), np.where(base > 128, 255, 0))  # a boolean mask: True is paper
    for bad, message in (
        (np.zeros((2, 3, 5), np.uint8), "expected an H x W"),
        (np.zeros((0, 4), np.uint8), "no pixels"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        (np.zeros((4, 4), complex), "unsupported array type"),
        (np.full((30, 30), 255, np.uint8), "blank"),
    ):
        with pytest.raises(ImageError, match=message):
            load_image(bad)
