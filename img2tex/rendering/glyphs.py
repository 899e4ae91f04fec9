"""Handwritten symbol shapes cut out of CROHME's training images: the glyph bank that
`rendering.handwriting` draws formulas with.

Why: the handwriting model overfits CROHME's 8,853 training expressions (its validation loss stops
falling after a few epochs while the training loss goes on down). Our corpus holds 150,000
formulas; drawn in CROHME writers' own symbol shapes they give the model new layouts and symbol
sequences in handwritten strokes, without one new writer.

CROHME gives no symbol positions, only the picture and the label, so glyphs are cut where the two
agree without doubt: an expression written on one line (letters, digits, operators, brackets;
scripts allowed, no fractions, roots or limits), whose ink falls apart into exactly as many
clusters as the label has symbols. A cluster is the connected strokes that overlap along x (the
two bars of "=", the dot of "i"). Clusters and symbols are then paired left to right. Each glyph
keeps its writer and where it sits: its top and bottom above the writer's baseline and its width,
in units of the line's height (the median height of its digits, capitals and tall letters), so
that a drawn formula places every symbol as its writer did. Script symbols are counted but not
kept (their size says nothing of the line's).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from img2tex.errors import DatasetError

#: Tokens drawn as one glyph, cut from CROHME and placed by `handwriting`.
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
SYMBOLS = frozenset(
    "0 1 2 3 4 5 6 7 8 9 + - = < > ( ) [ ] | , . / ! ' \\{ \\} \\alpha \\beta \\gamma \\Delta \\lambda "
    "\\mu \\phi \\pi \\sigma \\theta \\infty \\times \\div \\pm \\cdot \\leq \\geq \\neq \\rightarrow \\in "
    "\\exists \\forall \\prime \\sum \\int".split()
)
DRAWABLE = LETTERS | SYMBOLS
#: Tokens standing as high as a digit: what sets a line's unit height.
TALL = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZbdfhklt") | {"\\Delta", "\\lambda", "\\theta", "\\beta"}
#: Tokens that sit on the baseline (no descender): what sets a line's baseline.
BASED = TALL | frozenset("acemnorsuvwxz") - {"\\beta"}
#: Tokens a label may hold that draw nothing (spacing, and the wrapper of an operator name).
_SILENT = frozenset(
    {"~", "\\,", "\\;", "\\:", "\\!", "\\quad", "\\qquad", "\\operatorname", "\\operatorname*", "\\mathrm"}
)
#: Tokens that rule a label out: their glyph is not one cluster in a row.
_STRUCTURE = frozenset(
    {"\\frac", "\\sqrt", "\\lim", "\\ldots", "\\cdots", "\\left", "\\right", "\\Big", "\\Bigg", "\\to", "\\mbox"}
)


@dataclasses.dataclass(frozen=True)
class Glyph:
    """One handwritten symbol: its ink (uint8, 255 = ink, cropped), who wrote it, and where it
    sits on its line: top and bottom above the baseline, and width, in units of the line's height."""

    token: str
    writer: str
    ink: np.ndarray
    top: float
    bottom: float
    width: float


def components(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, x1, y0, y1; ends exclusive) of the 8-connected ink regions."""
    from scipy import ndimage

    labels, n = ndimage.label(ink, structure=np.ones((3, 3), dtype=bool))
    boxes = ndimage.find_objects(labels)
    return [(s[1].start, s[1].stop, s[0].start, s[0].stop) for s in boxes if s is not None][:n]


def clusters(boxes: Sequence[tuple[int, int, int, int]], overlap: float = 0.4) -> list[tuple[int, int, int, int]]:
    """Boxes merged, left to right, where one overlaps the cluster before it along x by at least
    `overlap` of the narrower's width (the bars of "=", the dot and stem of "i")."""
    out: list[list[int]] = []
    for x0, x1, y0, y1 in sorted(boxes):
        if out:
            c = out[-1]
            shared = min(x1, c[1]) - max(x0, c[0])
            if shared >= overlap * max(1, min(x1 - x0, c[1] - c[0])):
                out[-1] = [min(c[0], x0), max(c[1], x1), min(c[2], y0), max(c[3], y1)]
                continue
        out.append([x0, x1, y0, y1])
    return [(a, b, c, d) for a, b, c, d in out]


def label_symbols(tokens: Sequence[str], scripts: bool = False) -> list[tuple[str, bool]] | None:
    """The symbols a label draws, in reading order, each with whether it is in a script; None
    when the label is not one line of single glyphs (a fraction, a root, an unknown token)."""
    out: list[tuple[str, bool]] = []
    depth: list[bool] = []  # per open brace: does it open a script?
    script_next = False
    for t in tokens:
        if t in _STRUCTURE:
            return None
        if t in ("^", "_"):
            if not scripts:
                return None
            script_next = True
            continue
        in_script = any(depth)
        if t == "{":
            depth.append(script_next)
            script_next = False
            continue
        if t == "}":
            if not depth:
                return None
            depth.pop()
            continue
        if t in _SILENT:
            continue
        if t not in DRAWABLE:
            return None
        out.append((t, in_script or script_next))
        script_next = False
    return out if out and not depth else None


def cut(image: np.ndarray, tokens: Sequence[str], writer: str) -> list[Glyph]:
    """The glyphs of one labelled image (grey, ink dark), or none when picture and label do not
    pair up without doubt (see the module docstring)."""
    symbols = label_symbols(tokens)
    if not symbols:
        return []
    ink = image < 128
    boxes = clusters(components(ink))
    if len(boxes) != len(symbols):
        return []
    heights = [y1 - y0 for (_, _, y0, y1), (t, s) in zip(boxes, symbols) if t in TALL and not s]
    bottoms = [y1 for (_, _, _, y1), (t, s) in zip(boxes, symbols) if t in BASED and not s]
    if not heights or not bottoms:
        return []
    unit, base = float(np.median(heights)), float(np.median(bottoms))
    if unit < 4:
        return []
    grey = (255 - image.astype(np.int32)).clip(0, 255).astype(np.uint8)
    out = []
    for (x0, x1, y0, y1), (t, in_script) in zip(boxes, symbols):
        if in_script:
            continue
        out.append(
            Glyph(t, writer, grey[y0:y1, x0:x1].copy(), (base - y0) / unit, (base - y1) / unit, (x1 - x0) / unit)
        )
    return out


def typical(glyphs: Sequence[Glyph], tolerance: float = 0.3) -> list[Glyph]:
    """The glyphs that sit and look as their symbol usually does: top and bottom within
    `tolerance` units of their symbol's medians, and the width-to-height ratio within a factor
    of two. A label and a picture can pair up by count yet wrongly (an "x" drawn as two arcs beside
    a "2" drawn touching the next symbol); such glyphs stand out here. Symbols with fewer than
    five glyphs are kept as they are."""
    by_token: dict[str, list[Glyph]] = {}
    for g in glyphs:
        by_token.setdefault(g.token, []).append(g)
    out = []
    for gs in by_token.values():
        if len(gs) < 5:
            out += gs
            continue
        top, bottom = np.median([g.top for g in gs]), np.median([g.bottom for g in gs])
        shape = np.median([np.log(g.width / max(1e-3, g.top - g.bottom)) for g in gs])
        out += [
            g
            for g in gs
            if abs(g.top - top) <= tolerance
            and abs(g.bottom - bottom) <= tolerance
            and abs(np.log(g.width / max(1e-3, g.top - g.bottom)) - shape) <= np.log(2.0)
        ]
    return out


class GlyphBank:
    """Glyphs by token, with the writers who drew them."""

    def __init__(self, glyphs: Sequence[Glyph]) -> None:
        self.glyphs = list(glyphs)
        self.by_token: dict[str, list[Glyph]] = {}
        self.by_writer: dict[str, dict[str, list[Glyph]]] = {}
        for g in self.glyphs:
            self.by_token.setdefault(g.token, []).append(g)
            self.by_writer.setdefault(g.writer, {}).setdefault(g.token, []).append(g)
        self.writers = sorted(self.by_writer)

    def __len__(self) -> int:
        return len(self.glyphs)

    def has(self, token: str) -> bool:
        return token in self.by_token

    def pick(self, token: str, writer: str, rng: np.random.Generator) -> Glyph:
        """A glyph of `token`, the writer's own where they drew one, another writer's otherwise."""
        pool = self.by_writer.get(writer, {}).get(token) or self.by_token[token]
        return pool[int(rng.integers(len(pool)))]

    @classmethod
    def from_crohme(cls, root: str | os.PathLike[str]) -> GlyphBank:
        """Cut the glyphs of CROHME's training set (the only split it may learn from)."""
        from PIL import Image

        from img2tex.data.crohme import read_crohme

        split = read_crohme(root, "train")
        glyphs: list[Glyph] = []
        for i in range(len(split)):
            tokens = split.formula(i).split()
            if label_symbols(tokens) is None:
                continue
            path = split.examples[i].image_path
            with Image.open(path) as im:
                image = np.asarray(im.convert("L"))
            name = split.name(i)
            writer = _writer_of(name)
            glyphs += cut(image, tokens, writer)
        return cls(typical(glyphs))

    def save(self, path: str | os.PathLike[str]) -> None:
        """One .npz of arrays (read back without pickle): the ink of every glyph flattened, and a
        JSON index of tokens, writers, positions and shapes."""
        from img2tex.fileio import atomic_write_bytes

        index = [
            {
                "token": g.token,
                "writer": g.writer,
                "top": g.top,
                "bottom": g.bottom,
                "width": g.width,
                "shape": g.ink.shape,
            }
            for g in self.glyphs
        ]
        flat = np.concatenate([g.ink.ravel() for g in self.glyphs]) if self.glyphs else np.zeros(0, np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, ink=flat, index=np.frombuffer(json.dumps(index).encode(), dtype=np.uint8))
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GlyphBank:
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                flat, index = z["ink"], json.loads(z["index"].tobytes().decode())
        except (OSError, ValueError, KeyError) as exc:
            raise DatasetError(f"{path}: not a glyph bank ({exc})") from None
        glyphs, at = [], 0
        for e in index:
            h, w = e["shape"]
            glyphs.append(
                Glyph(e["token"], e["writer"], flat[at : at + h * w].reshape(h, w), e["top"], e["bottom"], e["width"])
            )
            at += h * w
        return cls(glyphs)


def _writer_of(name: str) -> str:
    """The writer of a CROHME training file, as far as its source's naming tells: the user in
    expressmatch ("126_alfonso"), the form in HAMEX ("formulaire002-equation009"), the sitting in
    MathBrush ("200926-1550-20"); in the other sources each file is its own writer."""
    source, _, stem = name.rpartition("/")
    if source == "expressmatch" and "_" in stem:
        stem = stem.rsplit("_", 1)[1]
    elif source == "HAMEX":
        stem = stem.split("-")[0]
    elif source == "MathBrush":
        stem = stem.rsplit("-", 1)[0]
    return f"{source}/{stem}"
