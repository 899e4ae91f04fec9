"""Tests for img2tex.data.packed: round trips, shapes without decoding, corrupt folders."""

from __future__ import annotations

import lzma
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2tex.data.folders import DatasetWarning
from img2tex.data.packed import PackedSplit, is_packed, pack_processed, quantize, write_packed
from img2tex.errors import DatasetError


def _images(n: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        a = np.full((10 + k, 20 + 3 * k), 255, np.uint8)
        inner = a[2:-2, 3:-3]  # a view
        ink = rng.random(inner.shape) < 0.3  # mostly background, like a formula
        inner[ink] = rng.integers(0, 256, int(ink.sum()))
        a[2, 3] = 0  # full range: packing's level stretch leaves it as it is
        out.append(a)
    return out


def test_lossless_round_trip(tmp_path: Path) -> None:
    imgs = _images()
    items = [(f"n{k}", a, f"x _ {{ {k} }}") for k, a in enumerate(imgs)]
    assert write_packed(tmp_path, items, levels=256) == 5
    assert is_packed(tmp_path) and not is_packed(tmp_path / "nope")
    ds = PackedSplit(tmp_path)
    assert len(ds) == 5
    for k, a in enumerate(imgs):
        assert ds.name(k) == f"n{k}" and ds.formula(k) == f"x _ {{ {k} }}"
        assert ds.shape(k) == a.shape
        assert np.array_equal(ds.image(k), a)
    assert ds.shapes().tolist() == [list(a.shape) for a in imgs]
    with pytest.raises(IndexError):
        ds.image(5)


def test_quantized_round_trip_is_idempotent(tmp_path: Path) -> None:
    imgs = _images()
    q = [quantize(a, 4) for a in imgs]
    assert set(np.unique(np.concatenate([x.ravel() for x in q]))) <= {0, 85, 170, 255}
    write_packed(tmp_path / "a", [(f"n{k}", a, "x") for k, a in enumerate(imgs)], levels=4)
    write_packed(tmp_path / "b", [(f"n{k}", a, "x") for k, a in enumerate(q)], levels=4)
    a, b = PackedSplit(tmp_path / "a"), PackedSplit(tmp_path / "b")
    for k in range(len(imgs)):
        assert np.array_equal(a.image(k), q[k]) and np.array_equal(b.image(k), q[k])


def test_quantizing_stretches_a_grey_background_to_white(tmp_path: Path) -> None:
    # A light-coloured background lies between two of the 4 levels: quantized as it is, its
    # noise would pack as speckles (170 or 255 at random); stretched first, it packs white.
    rng = np.random.default_rng(1)
    a = np.clip(212 + rng.normal(0, 6, (30, 60)), 0, 255).astype(np.uint8)
    a[10:20, 10:50] = 30
    write_packed(tmp_path, [("n", a, "x")], levels=4)
    b = PackedSplit(tmp_path).image(0)
    assert (b[:8] == 255).mean() > 0.95
    assert (b[10:20, 10:50] == 0).all()
    assert (quantize(a, 4)[:8] == 255).mean() < 0.8  # what packing did before


def test_pack_processed_folder(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images_processed").mkdir(parents=True)
    imgs = [quantize(a, 4) for a in _images(3)]
    for k, a in enumerate(imgs):
        Image.fromarray(a, mode="L").save(src / "images_processed" / f"i{k}.png")
    (src / "formulas.norm.lst").write_text("a\nb\nc\n")
    (src / "train_filter.lst").write_text("i0.png 0\ni2.png 2\n")
    assert pack_processed(src, tmp_path / "p", split="train") == 2
    ds = PackedSplit(tmp_path / "p")
    assert [ds.name(0), ds.name(1)] == ["i0", "i2"] and [ds.formula(0), ds.formula(1)] == ["a", "c"]
    assert np.array_equal(ds.image(1), imgs[2])


def test_pack_processed_skips_an_unchanged_pack(tmp_path: Path) -> None:
    """A rerun that rendered nothing new keeps the pack as it is; a new image or label re-packs."""
    src = tmp_path / "src"
    (src / "images_processed").mkdir(parents=True)
    for k, a in enumerate(_images(3)):
        Image.fromarray(quantize(a, 4), mode="L").save(src / "images_processed" / f"i{k}.png")
    (src / "formulas.norm.lst").write_text("a\nb\nc\n")
    (src / "train_filter.lst").write_text("i0.png 0\ni2.png 2\n")
    out = tmp_path / "p"
    pack_processed(src, out, split="train")
    os.utime(out / "packed.json", ns=(1, 4 * 10**18))  # in the future: only a re-pack rewrites it
    os.utime(out / "images.bin", ns=(1, 1))
    assert pack_processed(src, out, split="train") == 2
    assert (out / "images.bin").stat().st_mtime_ns == 1  # not rewritten
    (src / "formulas.norm.lst").write_text("a\nb\nd\n")
    pack_processed(src, out, split="train")
    assert PackedSplit(out).formula(1) == "d" and (out / "images.bin").stat().st_mtime_ns > 1
    os.utime(out / "packed.json", ns=(1, 1))  # now every image is newer than the pack
    os.utime(out / "images.bin", ns=(1, 1))
    pack_processed(src, out, split="train")
    assert (out / "images.bin").stat().st_mtime_ns > 1


def test_interrupted_repack_keeps_the_previous_pack(tmp_path: Path) -> None:
    write_packed(tmp_path, [(f"n{k}", a, "x") for k, a in enumerate(_images())])

    def items():  # fails after two images, as a killed or crashed render would
        for k, a in enumerate(_images(2)):
            yield f"m{k}", a, "y"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_packed(tmp_path, items())
    ds = PackedSplit(tmp_path)
    assert len(ds) == 5 and ds.name(0) == "n0"
    (tmp_path / ".partial" / ".images.bin.killed.tmp").write_bytes(b"")  # what a SIGKILL leaves
    write_packed(tmp_path, [("z", _images(1)[0], "z")])  # the next write completes over the leftovers
    assert len(PackedSplit(tmp_path)) == 1 and not (tmp_path / ".partial").exists()


def test_bad_items_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        write_packed(tmp_path, [("a", np.zeros((2, 2, 3), np.uint8), "x")])
    with pytest.raises(DatasetError, match="line break"):
        write_packed(tmp_path, [("a", np.zeros((2, 2), np.uint8), "x\ny")])


def test_corrupt_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a packed dataset"):
        PackedSplit(tmp_path)
    write_packed(tmp_path, [(f"n{k}", a, "x") for k, a in enumerate(_images())])
    (tmp_path / "names.txt.xz").write_bytes(lzma.compress(b"only\n"))
    with pytest.raises(DatasetError, match="disagree"):
        PackedSplit(tmp_path)
    write_packed(tmp_path, [(f"n{k}", a, "x") for k, a in enumerate(_images())])
    blob = (tmp_path / "images.bin").read_bytes()
    (tmp_path / "images.bin").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match="outside"):
        PackedSplit(tmp_path)
    write_packed(tmp_path, [(f"n{k}", a, "x") for k, a in enumerate(_images())])
    (tmp_path / "images.bin").write_bytes(b"\0" * len(blob))
    with pytest.raises(DatasetError, match="corrupt"):
        PackedSplit(tmp_path).image(0)
    (tmp_path / "index.npy.xz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="corrupt"):
        PackedSplit(tmp_path)
    (tmp_path / "index.npy.xz").unlink()
    with pytest.raises(DatasetError):
        PackedSplit(tmp_path)


@pytest.mark.parametrize("levels", [2, 3, 16, 255])
def test_every_level_count_round_trips(tmp_path: Path, levels: int) -> None:
    imgs = _images(4)
    write_packed(tmp_path, [(f"n{k}", a, "x") for k, a in enumerate(imgs)], levels=levels)
    ds = PackedSplit(tmp_path)
    for k, a in enumerate(imgs):
        assert np.array_equal(ds.image(k), quantize(a, levels))
    assert np.array_equal(ds.image(-1), quantize(imgs[-1], levels))


def test_old_format_version_refused(tmp_path: Path) -> None:
    write_packed(tmp_path, [("n", _images(1)[0], "x")])
    meta = (tmp_path / "packed.json").read_text().replace('"version": 3', '"version": 2')
    (tmp_path / "packed.json").write_text(meta)
    with pytest.raises(DatasetError, match="re-pack"):
        PackedSplit(tmp_path)


def test_repacking_a_v2_folder_removes_its_files(tmp_path: Path) -> None:
    for old in ("index.npy", "names.txt", "formulas.txt"):
        (tmp_path / old).write_text("from a version-2 pack")
    write_packed(tmp_path, [("n", _images(1)[0], "x")])
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "formulas.txt.xz",
        "images.bin",
        "index.npy.xz",
        "names.txt.xz",
        "packed.json",
    ]
    assert PackedSplit(tmp_path).formula(0) == "x"


def test_text_files_are_compressed_and_round_trip_unicode(tmp_path: Path) -> None:
    imgs = _images(3)
    formulas = [r"\frac { a } { b } + \alpha ^ { 2 } = ö" * 20 for _ in imgs]
    write_packed(tmp_path, [(f"bild-{k}-ü", a, f) for k, (a, f) in enumerate(zip(imgs, formulas))])
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "formulas.txt.xz",
        "images.bin",
        "index.npy.xz",
        "names.txt.xz",
        "packed.json",
    ]
    assert (tmp_path / "formulas.txt.xz").stat().st_size < len("\n".join(formulas).encode()) / 5
    ds = PackedSplit(tmp_path)
    assert [ds.formula(k) for k in range(3)] == formulas and ds.name(2) == "bild-2-ü"
    assert [ds.shape(k) for k in range(3)] == [a.shape for a in imgs]


def test_pack_processed_leaves_out_a_blank_render(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images_processed").mkdir(parents=True)
    imgs = [quantize(a, 4) for a in _images(3)]
    imgs[1] = np.full_like(imgs[1], 255)  # a render that came out blank
    for k, a in enumerate(imgs):
        Image.fromarray(a, mode="L").save(src / "images_processed" / f"i{k}.png")
    (src / "formulas.norm.lst").write_text("a\nb\nc\n")
    (src / "train_filter.lst").write_text("i0.png 0\ni1.png 1\ni2.png 2\n")
    with pytest.warns(DatasetWarning, match="1 unreadable image"):
        assert pack_processed(src, tmp_path / "p", split="train") == 2
    ds = PackedSplit(tmp_path / "p")
    assert [ds.name(0), ds.name(1)] == ["i0", "i2"] and np.array_equal(ds.image(1), imgs[2])
