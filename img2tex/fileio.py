"""Reading list files as im2latex writes them, and atomic writes: a crash or Ctrl-C never
leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from img2tex.errors import DatasetError


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; outputs are ordinary files that others may read.
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 text version of `atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Lines of a list file, split on ``\\n`` only (some im2latex formulas hold a bare ``\\r``),
    each decoded as UTF-8 or, where that fails, latin-1; a CRLF ending loses its ``\\r``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [_decode(p[:-1] if p.endswith(b"\r") else p) for p in parts]


def read_first_line(path: str | os.PathLike[str]) -> str:
    """The first line of a file, decoded as `read_lines` does, without reading the rest."""
    with Path(path).open("rb") as f:
        return _decode(f.readline().rstrip(b"\r\n"))
