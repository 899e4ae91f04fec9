"""Formulas drawn in handwritten symbol shapes: a small layout engine over the glyph bank.

Why: see `rendering.glyphs`. The handwriting model learns from CROHME's 8,853 expressions; this
draws any formula of our corpus that uses CROHME's symbols, in one CROHME writer's glyphs
(another writer's where that one never wrote the symbol), laid out as a hand lays out a formula:
symbols where their writer put them on the line, scripts smaller and raised or lowered, fractions
stacked over a bar, roots under a drawn radical, big operators with limits above and below,
delimiters stretched to what they enclose. Spacing, size and baseline jitter per symbol. The
picture is drawn as CROHME's are (a 256x256 square, the formula scaled to fit, strokes about 2.5
pixels wide), so that the reader sees the same look.

The layout works in units of the line's height (a digit's height) with y upwards from the
baseline; `draw` rasterises at the end.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from img2tex.errors import FormulaError
from img2tex.rendering.glyphs import DRAWABLE, Glyph, GlyphBank

#: Spacing tokens and their width in units.
SPACES = {"~": 0.35, "\\,": 0.15, "\\;": 0.25, "\\:": 0.2, "\\!": 0.0, "\\quad": 0.8, "\\qquad": 1.6}
#: Name wrappers: their group is drawn as a row of letters.
NAMES = ("\\operatorname", "\\operatorname*", "\\mathrm")
#: Tokens spelled by another glyph.
ALIASES = {"\\to": "\\rightarrow", "\\lt": "<", "\\gt": ">"}
#: Big operators with scripts as limits (above and below), as `\\operatorname*` names (lim) have them.
LIMITS = frozenset({"\\sum"})
DELIMITERS = frozenset({"(", ")", "[", "]", "|", "\\{", "\\}"})
#: Size of a script against its base.
SCRIPT = 0.62
#: The widest formula drawn, in units of the line's height: in a 256-pixel square a wider one has
#: glyphs under 16 pixels, smaller than CROHME's own long expressions.
MAX_WIDTH = 15.0


@dataclasses.dataclass
class Stroke:
    """A polyline drawn with the pen (a fraction bar, a radical), points in units."""

    points: list[tuple[float, float]]


@dataclasses.dataclass
class Piece:
    """One glyph placed: its ink stretched over the box (x, top) to (x + width, top - height)."""

    ink: np.ndarray
    x: float
    top: float
    width: float
    height: float


@dataclasses.dataclass
class Box:
    """Laid-out ink: width, extent above (top) and below (bottom) the baseline, in units."""

    width: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    pieces: list[Piece] = dataclasses.field(default_factory=list)
    strokes: list[Stroke] = dataclasses.field(default_factory=list)
    #: a big operator whose scripts go above and below
    limits: bool = False

    def moved(self, dx: float, dy: float, scale: float = 1.0) -> Box:
        """This box scaled by `scale` about its origin, then shifted by (dx, dy)."""
        pieces = [
            Piece(p.ink, dx + p.x * scale, dy + p.top * scale, p.width * scale, p.height * scale) for p in self.pieces
        ]
        strokes = [Stroke([(dx + x * scale, dy + y * scale) for x, y in s.points]) for s in self.strokes]
        return Box(self.width * scale, dy + self.top * scale, dy + self.bottom * scale, pieces, strokes)

    def add(self, other: Box) -> None:
        """Overlay `other` (already placed) on this box, growing the extents."""
        if not self.pieces and not self.strokes:
            self.top, self.bottom = other.top, other.bottom
        else:
            self.top, self.bottom = max(self.top, other.top), min(self.bottom, other.bottom)
        self.width = max(self.width, other.width)
        self.pieces += other.pieces
        self.strokes += other.strokes


class Layout:
    """Lays out one formula (token form) in one writer's glyphs; FormulaError where it cannot."""

    def __init__(self, bank: GlyphBank, writer: str, rng: np.random.Generator) -> None:
        self.bank, self.writer, self.rng = bank, writer, rng

    def jitter(self, scale: float) -> float:
        return float(self.rng.normal(0.0, scale))

    # -- atoms ------------------------------------------------------------------------------

    def glyph(self, token: str) -> Box:
        token = ALIASES.get(token, token)
        if not self.bank.has(token):
            raise FormulaError(f"no handwritten glyph for {token}")
        g: Glyph = self.bank.pick(token, self.writer, self.rng)
        s = math.exp(self.jitter(0.06))
        dy = self.jitter(0.04)
        height = max(0.05, g.top - g.bottom) * s
        top = g.bottom * s + height + dy
        return Box(g.width * s, top, top - height, [Piece(g.ink, 0.0, top, g.width * s, height)])

    def word(self, letters: str) -> Box:
        return self.row([self.glyph(c) for c in letters], gap=0.06)

    def space(self, width: float) -> Box:
        return Box(width)

    # -- structure --------------------------------------------------------------------------

    def row(self, boxes: Sequence[Box], gap: float | None = None) -> Box:
        out, x = Box(), 0.0
        for i, b in enumerate(boxes):
            if i:
                x += max(0.0, (0.14 if gap is None else gap) + self.jitter(0.04))
            out.add(b.moved(x, 0.0))
            x += b.width
        out.width = x
        return out

    def scripts(self, base: Box, sup: Box | None, sub: Box | None, limits: bool = False) -> Box:
        out = Box()
        out.add(base)
        sup = sup.moved(0, 0, SCRIPT) if sup is not None else None
        sub = sub.moved(0, 0, SCRIPT) if sub is not None else None
        if limits:
            width = max(b.width for b in (base, sup, sub) if b is not None)
            out = Box()
            out.add(base.moved((width - base.width) / 2, 0))
            if sup is not None:
                out.add(sup.moved((width - sup.width) / 2, base.top + 0.12 - sup.bottom))
            if sub is not None:
                out.add(sub.moved((width - sub.width) / 2, base.bottom - 0.12 - sub.top))
            out.width = width
            return out
        x = base.width + 0.05 + abs(self.jitter(0.03))
        width = base.width
        if sup is not None:
            y = max(0.45, base.top - 0.45 * (sup.top - sup.bottom)) + self.jitter(0.04)
            out.add(sup.moved(x, y))
            width = max(width, x + sup.width)
        if sub is not None:
            y = min(-0.22, base.bottom + 0.1) - sub.top * 0.6 + self.jitter(0.04)
            out.add(sub.moved(x, y))
            width = max(width, x + sub.width)
        out.width = width
        return out

    def bar(self, width: float, y: float) -> Box:
        """A horizontal pen stroke (a fraction bar), a little uneven as a hand draws it."""
        left, right = self.jitter(0.03), width + self.jitter(0.03)
        pts = [(left, y + self.jitter(0.015)), (right, y + self.jitter(0.015))]
        return Box(width, y, y, strokes=[Stroke(pts)])

    def fraction(self, num: Box, den: Box) -> Box:
        s = 0.85
        num, den = num.moved(0, 0, s), den.moved(0, 0, s)
        width = max(num.width, den.width) + 0.25
        axis = 0.3 + self.jitter(0.03)
        out = Box()
        out.add(num.moved((width - num.width) / 2, axis + 0.15 - num.bottom))
        out.add(self.bar(width, axis))
        out.add(den.moved((width - den.width) / 2, axis - 0.15 - den.top))
        out.width = width
        return out

    def root(self, body: Box, index: Box | None) -> Box:
        top, bottom = max(body.top, 0.9) + 0.15, min(body.bottom, 0.0) - 0.05
        hook = 0.45
        pts = [
            (0.0, bottom + 0.45 * (top - bottom)),
            (0.12, bottom + 0.52 * (top - bottom)),
            (0.27 + self.jitter(0.02), bottom),
            (hook, top),
            (hook + body.width + 0.2, top + self.jitter(0.02)),
        ]
        out = Box(strokes=[Stroke(pts)])
        out.top, out.bottom = top, bottom
        if index is not None:
            idx = index.moved(0, 0, 0.5)
            out.add(idx.moved(0.0, bottom + 0.55 * (top - bottom) - idx.bottom))
        out.add(body.moved(hook + 0.1, 0.0))
        out.width = hook + body.width + 0.2
        return out

    def delimiter(self, token: str, top: float, bottom: float) -> Box:
        """A bracket glyph stretched over the extent it encloses."""
        b = self.glyph(token)
        height = (top - bottom) + 0.1
        if height <= b.top - b.bottom:
            return b
        ratio = height / (b.top - b.bottom)
        width = b.width * min(ratio, 1.0 + 0.25 * (ratio - 1.0))
        p = b.pieces[0]
        return Box(width, top + 0.05, top + 0.05 - height, [Piece(p.ink, 0.0, top + 0.05, width, height)])

    # -- parsing ----------------------------------------------------------------------------

    def formula(self, tokens: Sequence[str]) -> Box:
        box, at = self._row(list(tokens), 0, stop=None)
        if at != len(tokens):
            raise FormulaError("unbalanced braces")
        return box

    def _row(self, toks: list[str], i: int, stop: str | None) -> tuple[Box, int]:
        """Boxes up to `stop` (a closing token) or the end; returns the row and the position after."""
        boxes: list[Box] = []
        while i < len(toks):
            t = toks[i]
            if stop is not None and t == stop:
                return self.row(boxes), i + 1
            if t == "}":
                raise FormulaError("unbalanced braces")
            if t in ("^", "_"):
                base = boxes.pop() if boxes else Box()
                scripts: dict[str, Box] = {}
                while i < len(toks) and toks[i] in ("^", "_"):
                    arg, after = self._plain_arg(toks, i + 1)
                    scripts[toks[i]] = arg
                    i = after
                boxes.append(self.scripts(base, scripts.get("^"), scripts.get("_"), base.limits))
                continue
            box, i = self._atom(toks, i)
            boxes.append(box)
        if stop is not None:
            raise FormulaError("unbalanced braces")
        return self.row(boxes), i

    def _atom(self, toks: list[str], i: int) -> tuple[Box, int]:
        t = toks[i]
        if t == "{":
            return self._row(toks, i + 1, stop="}")
        if t in SPACES:
            return self.space(SPACES[t]), i + 1
        if t in NAMES:
            if i + 1 < len(toks) and toks[i + 1] == "{":
                end = _find(toks, "}", i + 2)
                box = self.word("".join(toks[i + 2 : end]))
                box.limits = t == "\\operatorname*"  # \lim and its kin: limits below
                return box, end + 1
            raise FormulaError(f"{t} without a group")
        if t == "\\frac":
            num, i = self._plain_arg(toks, i + 1)
            den, i = self._plain_arg(toks, i)
            return self.fraction(num, den), i
        if t == "\\sqrt":
            index = None
            if i + 1 < len(toks) and toks[i + 1] == "[":
                end = _find(toks, "]", i + 2)
                index, _ = self._row(toks[i + 2 : end], 0, stop=None)
                i = end
            body, i = self._plain_arg(toks, i + 1)
            return self.root(body, index), i
        if _fence(t, "\\left"):
            return self._fenced(toks, i)
        if t in ("\\Big", "\\Bigg", "\\big", "\\bigg"):
            if i + 1 >= len(toks) or toks[i + 1] not in DELIMITERS:
                raise FormulaError(f"{t} without a delimiter")
            grow = {"\\big": 1.2, "\\Big": 1.6, "\\bigg": 2.0, "\\Bigg": 2.4}[t]
            return self.delimiter(toks[i + 1], 0.5 + 0.55 * grow, 0.5 - 0.55 * grow), i + 2
        if t in ("\\ldots", "\\cdots"):
            y = 0.0 if t == "\\ldots" else 0.3
            dots = [self.glyph(".").moved(0, y) for _ in range(3)]
            return self.row(dots, gap=0.12), i + 1
        if t in DRAWABLE or t in ALIASES:
            box = self.glyph(t)
            box.limits = t in LIMITS
            return box, i + 1
        raise FormulaError(f"no handwritten form for {t}")

    def _plain_arg(self, toks: list[str], i: int) -> tuple[Box, int]:
        if i >= len(toks):
            raise FormulaError("a command lacks its argument")
        return self._atom(toks, i)

    def _fenced(self, toks: list[str], i: int) -> tuple[Box, int]:
        """`\\left( ... \\right)` (or `\\left ( ... \\right )`): the body, then both delimiters
        stretched over it."""
        opening, i = _delimiter(toks, i, "\\left")
        depth, j = 0, i
        while j < len(toks):
            if _fence(toks[j], "\\left"):
                depth += 1
            elif _fence(toks[j], "\\right"):
                if depth == 0:
                    break
                depth -= 1
            j += 1
        if j >= len(toks):
            raise FormulaError("\\left without \\right")
        body, _ = self._row(toks[i:j], 0, stop=None)
        closing, after = _delimiter(toks, j, "\\right")
        parts = []
        top, bottom = max(body.top, 1.0), min(body.bottom, 0.0)
        if opening != ".":
            parts.append(self.delimiter(opening, top, bottom))
        parts.append(body)
        if closing != ".":
            parts.append(self.delimiter(closing, top, bottom))
        return self.row(parts), after


def _fence(token: str, command: str) -> bool:
    """Whether `token` is `\\left`/`\\right` (`command`) alone or glued to its delimiter
    (`\\left(`, `\\right.`), not a command that merely starts alike (`\\rightarrow`)."""
    return token == command or (token.startswith(command) and token[len(command) :] in DELIMITERS | {"."})


def _find(toks: list[str], token: str, start: int) -> int:
    """The position of `token` from `start`; FormulaError when there is none."""
    try:
        return toks.index(token, start)
    except ValueError:
        raise FormulaError(f"no {token} to close a group") from None


def _delimiter(toks: list[str], i: int, command: str) -> tuple[str, int]:
    """The delimiter of `\\left`/`\\right` at toks[i], glued (`\\left(`) or apart (`\\left (`), and
    the position after it."""
    t = toks[i]
    if t != command:
        return t[len(command) :], i + 1
    if i + 1 >= len(toks):
        raise FormulaError(f"{command} without a delimiter")
    return toks[i + 1], i + 2


# -- drawing ------------------------------------------------------------------------------------


#: Stroke width (pixels) of CROHME's pictures, where the glyphs come from.
SOURCE_PEN = 2.5


def repen(ink: np.ndarray, scale: float, pen: float) -> np.ndarray:
    """A glyph's ink (0..1) resized by `scale` and made binary with strokes about `pen` pixels
    wide: scaled up or down from its writer's picture its strokes would be as thick or thin as the
    scale, where a pen draws every size alike. Thick strokes are eroded, thin ones dilated."""
    from scipy import ndimage

    mask = ink > (0.2 if scale < 1 else 0.35)
    change = (SOURCE_PEN * scale - pen) / 2
    k = int(abs(change) + 0.25)
    if k and change > 0:
        thinner = ndimage.binary_erosion(mask, iterations=k)
        if thinner.sum() >= 0.25 * mask.sum():
            mask = thinner
    elif k:
        mask = ndimage.binary_dilation(mask, iterations=k)
    return mask


def draw(box: Box, rng: np.random.Generator, size: int = 256, margin: int = 6) -> np.ndarray:
    """The laid-out formula as CROHME draws its expressions: grey (ink dark, uint8) on a white
    `size` x `size` square, scaled to fit it, strokes about 2.5 pixels wide (varied)."""
    from PIL import Image, ImageDraw

    width, height = max(box.width, 0.1), max(box.top - box.bottom, 0.1)
    scale = min((size - 2 * margin) / width, (size - 2 * margin) / height)
    ox = (size - width * scale) / 2
    oy = (size - height * scale) / 2 + box.top * scale  # the baseline's row

    pen = float(rng.uniform(1.5, 2.7))
    canvas = np.zeros((size, size), bool)
    for p in box.pieces:
        w, h = max(1, round(p.width * scale)), max(1, round(p.height * scale))
        x0, y0 = round(ox + p.x * scale), round(oy - p.top * scale)
        glyph = np.asarray(Image.fromarray(p.ink).resize((w, h), Image.BILINEAR), np.float32) / 255.0
        glyph = repen(glyph, h / p.ink.shape[0], pen)
        xs, ys = max(0, x0), max(0, y0)
        xe, ye = min(size, x0 + w), min(size, y0 + h)
        if xe > xs and ye > ys:
            part = glyph[ys - y0 : ye - y0, xs - x0 : xe - x0]
            canvas[ys:ye, xs:xe] |= part
    ink = canvas
    if box.strokes:
        lines = Image.new("L", (size, size), 0)
        pen_draw = ImageDraw.Draw(lines)
        for s in box.strokes:
            pts = [(ox + x * scale, oy - y * scale) for x, y in s.points]
            pen_draw.line(pts, fill=255, width=max(1, round(pen)), joint="curve")
        ink |= np.asarray(lines) > 127
    from scipy import ndimage

    soft = ndimage.gaussian_filter(ink.astype(np.float32), 0.6)  # the anti-aliasing of CROHME's drawing
    return (255 - np.round(np.clip(soft * 1.4, 0, 1) * 255)).astype(np.uint8)


def handwritten(
    tokens: Sequence[str], bank: GlyphBank, rng: np.random.Generator, writer: str | None = None
) -> np.ndarray:
    """One formula (token form) drawn in handwritten glyphs by one writer (drawn at random when
    None); FormulaError when the bank cannot draw it or it is wider than `MAX_WIDTH`."""
    writer = writer if writer is not None else bank.writers[int(rng.integers(len(bank.writers)))]
    box = Layout(bank, writer, rng).formula(tokens)
    if box.width > MAX_WIDTH:
        raise FormulaError(f"too wide to draw ({box.width:.0f} line heights)")
    if not box.pieces and not box.strokes:
        raise FormulaError("nothing to draw")
    return draw(box, rng)


@dataclasses.dataclass
class HandReport:
    """What `write_handwritten` did: counts, and why each formula that was not drawn was not."""

    total: int = 0
    ok: int = 0
    skipped_existing: int = 0
    seconds: float = 0.0
    failed: list[dict[str, object]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def write_handwritten(
    formulas: Sequence[str],
    out_dir: str | os.PathLike[str],
    bank: GlyphBank,
    seed: int = 0,
    names: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> HandReport:
    """Draw `formulas` (LaTeX) in handwritten glyphs into CROHME's layout under `out_dir`:
    OUT/train/hw/<name>.png and OUT/groundtruth_train.tsv, so that `img2tex train CROHME OUT`
    learns from both. Labels are written in CROHME's canonical token form. Each formula is drawn
    by one writer, chosen (as everything else) from `seed` and its line number, so a rerun draws
    the same pictures; images already there are kept. A formula the bank cannot draw (a symbol
    CROHME has not, a layout it does not know, too wide for the square) is reported, not drawn."""
    import time

    from img2tex.data.crohme import canonical
    from img2tex.fileio import atomic_write_bytes, atomic_write_text
    from img2tex.rendering.renderer import default_name, encode_png
    from img2tex.tokenizer import normalize

    t0 = time.perf_counter()
    out = Path(out_dir)
    images = out / "train" / "hw"
    images.mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else [default_name(f) for f in formulas]
    if len(names) != len(formulas):
        raise FormulaError(f"{len(names)} names for {len(formulas)} formulas")
    report = HandReport(total=len(formulas))
    rows = []
    tick = progress or (lambda n: None)
    for i, (formula, name) in enumerate(zip(formulas, names)):
        try:
            label = canonical(normalize(formula))
            path = images / f"{name}.png"
            if path.exists():
                report.skipped_existing += 1
            else:
                image = handwritten(label.split(), bank, np.random.default_rng([seed, i]))
                atomic_write_bytes(path, encode_png(image))
            rows.append(f"hw/{name}\t{label}\n")
            report.ok += 1
        except FormulaError as exc:
            report.failed.append({"index": i, "name": name, "reason": str(exc)})
        tick(1)
    atomic_write_text(out / "groundtruth_train.tsv", "".join(rows))
    report.seconds = time.perf_counter() - t0
    atomic_write_text(out / "render_report.json", json.dumps(report.to_dict(), indent=1) + "\n")
    return report
