"""Tests for img2tex.fileio: reading im2latex list files, and atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from img2tex.errors import DatasetError
from img2tex.fileio import atomic_write_text, read_lines


def test_read_lines_splits_on_newline_only(tmp_path: Path) -> None:
    path = tmp_path / "im2latex_formulas.lst"
    # formula 1 holds a bare \r (must not split), formula 2 is latin-1, file ends with \n
    path.write_bytes(b"a^2 + b^2\n\\frac{1}{2}\rx\nx = \xe9\nE=mc^2\n")
    lines = read_lines(path)
    assert lines == ["a^2 + b^2", "\\frac{1}{2}\rx", "x = \xe9", "E=mc^2"]


def test_read_lines_drops_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "windows.lst"
    path.write_bytes(b"\xef\xbb\xbfx ^ { 2 }\r\ny\r\nlast")
    assert read_lines(path) == ["x ^ { 2 }", "y", "last"]


def test_read_lines_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_lines(tmp_path / "absent.lst")


def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "ünïcode")
    assert target.read_text(encoding="utf-8") == "ünïcode"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temporary left behind
