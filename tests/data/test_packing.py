"""Packing any layout: im2latex-100k's full pages stored at the model's glyph size, resumably."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from img2tex.data import packing
from img2tex.data.layout import open_split
from img2tex.data.packed import PackedSplit
from img2tex.data.packing import pack_split
from img2tex.errors import DatasetError
from img2tex.images import ImageConfig, estimate_text_height, load_image, preprocess


def test_full_pages_are_stored_as_predict_reads_them(distributed_root: Path, tmp_path: Path) -> None:
    split = open_split(distributed_root, "train")
    report = pack_split(split, tmp_path / "packed", levels=256)
    pack = PackedSplit(tmp_path / "packed")
    assert (report.packed, report.rescaled, report.skipped) == (len(split), len(split), [])
    cfg = ImageConfig()
    for i in range(len(split)):
        page = load_image(distributed_root / "formula_images" / f"{split.name(i)}.png")
        expected = preprocess(page, cfg)  # what `img2tex predict` feeds the network
        assert pack.name(i) == split.name(i) and pack.formula(i) == split.formula(i)
        np.testing.assert_array_equal(pack.image(i), expected)
        # at the model's glyph size, not the page's (twice it)
        assert abs(estimate_text_height(pack.image(i)) / cfg.text_height - 1) < 0.3
        assert max(page.shape) > 1600 and max(pack.image(i).shape) < 400
    assert not (tmp_path / "packed" / packing.CHUNKS).exists()


def test_renders_are_stored_as_they_are(fake_split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    split = fake_split(5)  # no `rescale` attribute: read as stored
    report = pack_split(split, tmp_path / "p", levels=256)
    pack = PackedSplit(tmp_path / "p")
    assert report.rescaled == 0
    for i in range(5):
        np.testing.assert_array_equal(pack.image(i), split.image(i))


def test_an_interrupted_pack_resumes_at_its_first_missing_chunk(
    fake_split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(packing, "CHUNK", 2)
    split = fake_split(7)
    real = packing._Job.chunk

    def crash_on_third(self, c, start):  # type: ignore[no-untyped-def]
        if c == 2:
            raise KeyboardInterrupt
        return real(self, c, start)

    monkeypatch.setattr(packing._Job, "chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        pack_split(split, tmp_path / "p")
    assert not (tmp_path / "p" / "packed.json").exists()  # nothing half-written where the pack goes
    monkeypatch.setattr(packing._Job, "chunk", real)
    report = pack_split(split, tmp_path / "p")
    assert (report.resumed, report.packed) == (4, 7)
    pack = PackedSplit(tmp_path / "p")
    assert [pack.name(i) for i in range(7)] == [split.name(i) for i in range(7)]


def test_other_settings_start_over(fake_split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(packing, "CHUNK", 2)
    work = tmp_path / "p" / packing.CHUNKS
    work.mkdir(parents=True)
    (work / packing.SETTINGS).write_text(json.dumps({"count": 99}))
    (work / "000000").mkdir()
    report = pack_split(fake_split(3), tmp_path / "p")
    assert report.resumed == 0 and report.packed == 3


def test_unreadable_images_are_skipped_and_counted(fake_split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    split = fake_split(4)
    split.rescale = True  # read through preprocess, which refuses a blank image
    blank = split.image
    split.image = lambda i: np.full((20, 40), 255, np.uint8) if i == 1 else blank(i)  # type: ignore[method-assign]
    report = pack_split(split, tmp_path / "p")
    assert report.packed == 3 and len(report.skipped) == 1 and report.skipped[0].startswith("img1")
    assert len(PackedSplit(tmp_path / "p")) == 3


def test_bad_settings(fake_split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError):
        pack_split(fake_split(2), tmp_path / "p", scale="sometimes")
    with pytest.raises(DatasetError):
        pack_split(fake_split(0), tmp_path / "p")
