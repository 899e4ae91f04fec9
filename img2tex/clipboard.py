"""The system clipboard: read an image from it, put text on it.

For the everyday loop: take a screenshot of a formula to the clipboard, run
`img2tex predict --clipboard --copy`, paste the LaTeX. Which tool does it:

- Wayland (``WAYLAND_DISPLAY`` set): ``wl-paste`` / ``wl-copy`` (Debian's wl-clipboard);
- X11 (``DISPLAY`` set): ``xclip`` (Debian's xclip);
- macOS and Windows: Pillow's ``ImageGrab.grabclipboard`` to read, ``pbcopy`` / ``clip`` to write.

No tool, no image on the clipboard, or a tool that fails: `ClipboardError`, one line that says
what to install or do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from img2tex.errors import Img2TexError

#: Seconds a clipboard tool may take (a clipboard owner that never answers must not hang us).
TIMEOUT_S = 10.0


class ClipboardError(Img2TexError):
    """The clipboard could not be read or written."""


def _desktop() -> str:
    """'wayland', 'x11', 'macos', 'windows' or '' (no clipboard this process can reach)."""
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    if os.environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    if os.environ.get("DISPLAY"):
        return "x11"
    return ""


def _run(cmd: list[str], data: bytes | None = None, capture: bool = True) -> bytes:
    """`cmd`'s stdout. Without `capture` its output goes nowhere: wl-copy and xclip leave a
    process behind to serve the clipboard, and it would hold our pipes open until it ends."""
    sink = subprocess.PIPE if capture else subprocess.DEVNULL
    try:
        done = subprocess.run(cmd, input=data, stdout=sink, stderr=sink, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ClipboardError(f"{cmd[0]} did not answer within {TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise ClipboardError(f"cannot run {cmd[0]} ({exc.strerror or exc})") from None
    if done.returncode != 0:
        said = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise ClipboardError(said[-1] if said else f"{Path(cmd[0]).name} failed (exit {done.returncode})")
    return done.stdout or b""


def _types(cmd: list[str]) -> list[str]:
    """The clipboard's content types; none when the tool finds the clipboard empty (it fails)."""
    try:
        return _run(cmd).decode("utf-8", "replace").split()
    except ClipboardError as exc:
        if "did not answer" in str(exc) or "cannot run" in str(exc):
            raise
        return []


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ClipboardError(f"{name} not found: install {package} to use the clipboard")
    return path


def read_image() -> bytes:
    """The image on the clipboard, as PNG bytes (`ClipboardError` when there is none)."""
    desktop = _desktop()
    if desktop == "wayland":
        tool = _tool("wl-paste", "wl-clipboard")
        types = _types([tool, "--list-types"])
        kind = next((t for t in ("image/png", "image/jpeg") if t in types), None)
        kind = kind or next((t for t in types if t.startswith("image/")), None)
        if kind is None:
            raise ClipboardError("the clipboard holds no image (copy a screenshot of a formula first)")
        return _run([tool, "--no-newline", "--type", kind])
    if desktop == "x11":
        tool = _tool("xclip", "xclip")
        types = _types([tool, "-selection", "clipboard", "-target", "TARGETS", "-out"])
        kind = next((t for t in ("image/png", "image/jpeg") if t in types), None)
        kind = kind or next((t for t in types if t.startswith("image/")), None)
        if kind is None:
            raise ClipboardError("the clipboard holds no image (copy a screenshot of a formula first)")
        return _run([tool, "-selection", "clipboard", "-target", kind, "-out"])
    if desktop in ("macos", "windows"):
        import io

        from PIL import ImageGrab

        grabbed = ImageGrab.grabclipboard()
        if grabbed is None or isinstance(grabbed, list):  # nothing, or file names
            raise ClipboardError("the clipboard holds no image (copy a screenshot of a formula first)")
        buf = io.BytesIO()
        grabbed.save(buf, "PNG")
        return buf.getvalue()
    raise ClipboardError("no clipboard here: neither WAYLAND_DISPLAY nor DISPLAY is set")


def copy_text(text: str) -> None:
    """Put `text` on the clipboard (`ClipboardError` when it cannot)."""
    desktop = _desktop()
    data = text.encode("utf-8")
    if desktop == "wayland":
        _run([_tool("wl-copy", "wl-clipboard")], data, capture=False)
    elif desktop == "x11":
        _run([_tool("xclip", "xclip"), "-selection", "clipboard", "-in"], data, capture=False)
    elif desktop == "macos":
        _run([_tool("pbcopy", "pbcopy")], data, capture=False)
    elif desktop == "windows":
        _run([_tool("clip", "clip")], text.encode("utf-16-le"), capture=False)
    else:
        raise ClipboardError("no clipboard here: neither WAYLAND_DISPLAY nor DISPLAY is set")
