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


# -- folders written as a whole ---------------------------------------------------------------
# A checkpoint is several files that only make sense together. It is written into a staging
# folder, sealed with a manifest (each file's size and SHA-256, written last), then swapped into
# place by renames: a crash at any point leaves either the old folder or the new one whole,
# and damage to a sealed folder afterwards (a torn copy, a bad disk) is detected on reading.

MANIFEST = "manifest.json"


def seal_folder(folder: str | os.PathLike[str]) -> None:
    """Write folder/manifest.json listing the size and SHA-256 of every other file in it."""
    import hashlib
    import json

    d = Path(folder)
    files = {}
    for f in sorted(p for p in d.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")):
        files[f.name] = {"bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    atomic_write_text(d / MANIFEST, json.dumps({"files": files}, indent=1) + "\n")


def folder_damage(folder: str | os.PathLike[str]) -> str | None:
    """None when `folder` is sealed and every listed file is there with its size and hash;
    otherwise why not, in a few words ("no manifest" for a folder that was never sealed)."""
    import hashlib
    import json

    d = Path(folder)
    if not d.is_dir():
        return "missing"
    try:
        listed = json.loads((d / MANIFEST).read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return "no manifest"
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable manifest"
    for name, want in listed.items():
        f = d / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != want["bytes"]:
            return f"{name} has {f.stat().st_size} bytes, expected {want['bytes']}"
        if hashlib.sha256(f.read_bytes()).hexdigest() != want["sha256"]:
            return f"{name} does not match its SHA-256"
    return None


def swap_folder(staged: str | os.PathLike[str], target: str | os.PathLike[str], keep: str | None = None) -> None:
    """Put the sealed folder `staged` in place of `target` by renames. The old `target` becomes
    the sibling named `keep` (replacing it) or is deleted."""
    import shutil

    staged, target = Path(staged), Path(target)
    old = target.with_name(keep) if keep else target.with_name(target.name + ".old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(staged, target)
    _fsync_dir(target.parent)
    if not keep and old.exists():
        shutil.rmtree(old)


def fresh_folder(path: str | os.PathLike[str]) -> Path:
    """An empty folder at `path` (a leftover from a crashed write is removed first)."""
    import shutil

    d = Path(path)
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
