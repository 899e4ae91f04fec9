"""The clipboard through fake wl-paste/wl-copy and xclip commands on PATH: an image in, text out,
and one-line errors when there is no image, no tool or no clipboard."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from img2tex import clipboard
from img2tex.clipboard import ClipboardError, copy_text, read_image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quadratic.png"


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_wayland(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Wayland desktop whose clipboard is the file tmp_path/clip (its type in tmp_path/type):
    fake wl-paste and wl-copy, and nothing else on PATH. Returns tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(
        bin_dir,
        "wl-paste",
        f'if [ ! -s "{tmp_path}/clip" ]; then echo "No selection" >&2; exit 1; fi\n'
        f'if [ "$1" = "--list-types" ]; then cat "{tmp_path}/type"; exit 0; fi\n'
        f'cat "{tmp_path}/clip"\n',
    )
    _script(bin_dir, "wl-copy", f'cat > "{tmp_path}/clip"; echo "text/plain" > "{tmp_path}/type"\n')
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/bin:/usr/bin")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(clipboard.sys, "platform", "linux")
    return tmp_path


def test_an_image_in_and_text_out_on_wayland(fake_wayland: Path) -> None:
    (fake_wayland / "clip").write_bytes(EXAMPLE.read_bytes())
    (fake_wayland / "type").write_text("image/png\ntext/html\n")
    assert read_image() == EXAMPLE.read_bytes()
    copy_text("x^{2}")
    assert (fake_wayland / "clip").read_text() == "x^{2}"


def test_no_image_on_the_clipboard(fake_wayland: Path) -> None:
    (fake_wayland / "clip").write_text("just text")
    (fake_wayland / "type").write_text("text/plain\n")
    with pytest.raises(ClipboardError, match="holds no image"):
        read_image()
    (fake_wayland / "clip").write_text("")
    with pytest.raises(ClipboardError, match="holds no image"):
        read_image()


def test_x11_through_xclip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(
        bin_dir,
        "xclip",
        'case "$*" in\n'
        '  *TARGETS*) printf "TARGETS\\nimage/png\\n" ;;\n'
        f'  *-out*) cat "{EXAMPLE}" ;;\n'
        f'  *-in*) cat > "{tmp_path}/copied" ;;\n'
        "esac\n",
    )
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + "/bin:/usr/bin")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(clipboard.sys, "platform", "linux")
    assert read_image() == EXAMPLE.read_bytes()
    copy_text("a + b")
    assert (tmp_path / "copied").read_text() == "a + b"


def test_missing_tool_and_missing_clipboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clipboard.sys, "platform", "linux")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(ClipboardError, match="wl-paste not found: install wl-clipboard"):
        read_image()
    monkeypatch.delenv("WAYLAND_DISPLAY")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(ClipboardError, match="no clipboard here"):
        copy_text("x")


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    import sys

    from img2tex.cli import main

    monkeypatch.setattr(sys, "argv", ["img2tex", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_from_the_clipboard_to_the_clipboard(fake_wayland: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from img2tex.predict import Img2Tex

    expected = Img2Tex().predict(EXAMPLE).latex
    (fake_wayland / "clip").write_bytes(EXAMPLE.read_bytes())
    (fake_wayland / "type").write_text("image/png\n")
    code, out, err = _cli(["predict", "--clipboard", "--copy"], capsys, monkeypatch)
    assert code == 0, err
    assert out.strip() == expected and (fake_wayland / "clip").read_text() == expected
    # MathML the same way
    (fake_wayland / "clip").write_bytes(EXAMPLE.read_bytes())
    (fake_wayland / "type").write_text("image/png\n")
    code, out, err = _cli(["predict", "--clipboard", "--copy", "--format", "mathml"], capsys, monkeypatch)
    assert code == 0 and out.startswith("<math") and (fake_wayland / "clip").read_text() == out.strip()


def test_clipboard_errors_are_one_line(fake_wayland: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (fake_wayland / "clip").write_text("text")
    (fake_wayland / "type").write_text("text/plain\n")
    code, out, err = _cli(["predict", "--clipboard"], capsys, monkeypatch)
    assert code == 1 and out == "" and "holds no image" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(["predict", "--clipboard", str(EXAMPLE)], capsys, monkeypatch)
    assert code == 2 and "give no image paths" in err
