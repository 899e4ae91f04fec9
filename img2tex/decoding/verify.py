"""Verified decoding: choose among the n best answers by typesetting each and comparing its
picture with the input image (a ranker, after the decoding search).

Why: the right answer is often in the beam but not on top (the shipped model's beam-5 n-best
held the reference for 42.5% of 1,000 test renders, the top answer for 29.4%), and an answer
whose picture does not look like the input is a wrong answer the model cannot see.

The comparison is built for looks our renderer did not make (other fonts, bolder or thinner
strokes, screenshots, JPEG): both pictures are reduced to what any look of the same formula
shares. Each is stretched to full contrast, cut to its ink, brought to one height
(`SIGNATURE_HEIGHT`) with its width in proportion, blurred, and divided by its mean ink (so
stroke weight cancels out); the candidate's signature is stretched to the input's width and the
two are compared by mean absolute difference, plus a penalty for a different aspect ratio.
Glyph shapes and pixel grids are what normalization cannot remove, so the model's answer is
typeset in several looks (`VerifyConfig.looks`: fonts, and Computer Modern at screen
resolution, `EXTRA_LOOKS`) and every candidate is compared in the look that draws the answer
closest to the input: the input's look, as far as ours tell.
The answer chosen maximizes the model's length-normalized log-probability minus `weight` times
how much farther its picture is from the input than the closest candidate's, relative to that
closest distance (`choose`); an answer the model is sure of (`VerifyConfig.sure`) is kept
without typesetting. The weights were tuned on fresh synthetic formulas drawn in ten looks,
never on test or held-out validation formulas (`benchmarks/verified_decoding.py`).

Renders are cached per candidate and look (a token string is typeset once per look per `Verifier`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from img2tex.errors import RenderError

#: Height, in pixels, that both pictures are brought to before they are compared.
SIGNATURE_HEIGHT = 32
#: Widest signature (a very long formula is compared at this width).
SIGNATURE_MAX_WIDTH = 1024
#: Looks a candidate can be typeset in besides the renderer's fonts (each of `FONTS` is a look of
#: its own name): name -> the `RenderConfig` fields it sets. "screen" is Computer Modern drawn at
#: 75 dpi without the anti-aliasing of downsampling, as a screenshot of a page is (a training look
#: of the shipped model).
EXTRA_LOOKS: dict[str, dict[str, object]] = {"screen": {"dpi": 75, "downsample": 1}}


@dataclass
class VerifyConfig:
    """How candidates are weighed. The defaults were tuned on fresh synthetic formulas (none
    sharing a spelling with a test or validation formula) drawn in ten looks, training looks
    and held-out ones (`benchmarks/verified_decoding.py`)."""

    #: Candidates considered per image (the beam is widened to this).
    n_best: int = 5
    #: Weight of the picture evidence (a candidate's distance beyond the closest one's, relative
    #: to it) against the model's score.
    weight: float = 0.25
    #: Weight of |log(aspect ratio of input / candidate)| within the distance.
    aspect: float = 0.5
    #: Keep the model's answer when its picture is within this (relative) of the closest one.
    margin: float = 0.0
    #: Blur of the signatures (Gaussian sigma, in signature pixels).
    blur: float = 2.0
    #: How far (signature pixels) ink may sit from where the other picture has it without cost:
    #: each picture's ink is charged only beyond the other's ink spread this far (0: pixel by
    #: pixel). Another font's glyphs are wider, narrower or placed a little differently.
    tolerance: int = 0
    #: Answer without typesetting when the model's score leads the second candidate's by at
    #: least this (a sure answer: the pictures are not consulted; saves the renders).
    sure: float = 0.25
    #: Looks (a font of `rendering.renderer.FONTS`, or one of `EXTRA_LOOKS`) the model's answer is
    #: typeset in to find the input's look; the other candidates are typeset in the one that comes
    #: closest. The first is the fallback; fonts this machine lacks are skipped.
    looks: tuple[str, ...] = ("cm", "times", "palatino", "screen")
    #: Typeset every candidate in every look and take its smallest distance over them, instead of
    #: comparing in the look of the model's answer (about twice the renders).
    every_look: bool = False


def signature(a: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A grey image (ink dark on white) as the comparison sees it: (SIGNATURE_HEIGHT x w float32
    ink, normalized to mean 1; the ink's aspect ratio). None for an image without ink."""
    a = np.asarray(a)
    lo, hi = float(np.percentile(a, 1)), float(np.percentile(a, 99))
    if hi - lo < 32:
        return None
    ink = np.clip((hi - a.astype(np.float32)) / (hi - lo), 0.0, 1.0)
    rows = np.flatnonzero((ink > 0.5).any(axis=1))
    cols = np.flatnonzero((ink > 0.5).any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return None
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = ink.shape
    aspect = w / h
    width = min(SIGNATURE_MAX_WIDTH, max(1, round(SIGNATURE_HEIGHT * aspect)))
    im = Image.fromarray((ink * 255).astype(np.uint8), mode="L").resize(
        (width, SIGNATURE_HEIGHT), Image.Resampling.BOX if h > SIGNATURE_HEIGHT else Image.Resampling.BILINEAR
    )
    return np.asarray(im, dtype=np.float32) / 255.0, aspect


def distance(x: tuple[np.ndarray, float], y: tuple[np.ndarray, float], cfg: VerifyConfig) -> float:
    """How unlike two signatures are (0 = the same picture up to scale and stroke weight)."""
    (a, aspect_a), (b, aspect_b) = x, y
    if b.shape[1] != a.shape[1]:
        b = (
            np.asarray(
                Image.fromarray((np.clip(b, 0, 1) * 255).astype(np.uint8), mode="L").resize(
                    (a.shape[1], SIGNATURE_HEIGHT), Image.Resampling.BILINEAR
                ),
                dtype=np.float32,
            )
            / 255.0
        )
    a, b = _blurred(a, cfg.blur), _blurred(b, cfg.blur)
    a = a / max(float(a.mean()), 1e-6)
    b = b / max(float(b.mean()), 1e-6)
    if cfg.tolerance > 0:
        pixels = float(
            np.maximum(a - _spread(b, cfg.tolerance), 0).mean() + np.maximum(b - _spread(a, cfg.tolerance), 0).mean()
        )
    else:
        pixels = float(np.abs(a - b).mean())
    return pixels + cfg.aspect * abs(math.log(aspect_a / aspect_b))


def _spread(a: np.ndarray, t: int) -> np.ndarray:
    """Each pixel the largest value within `t` pixels of it (a square window)."""
    h, w = a.shape
    p = np.pad(a, t)
    out = np.zeros_like(a)
    for dy in range(2 * t + 1):
        for dx in range(2 * t + 1):
            np.maximum(out, p[dy : dy + h, dx : dx + w], out=out)
    return out


def _blurred(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return a
    im = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8), mode="L")
    return np.asarray(im.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255.0


def choose(distances: Sequence[float | None], scores: Sequence[float], cfg: VerifyConfig) -> int:
    """The index of the candidate to answer with: the best `score - weight * excess` among those
    that typeset (`distance` not None), where `excess` is how much farther from the input a
    candidate's picture is than the closest candidate's, relative to that closest distance. The
    first (the model's) when none typeset, or when its own excess is under `cfg.margin`.

    Why relative: in a look our renderer does not draw (another font, Ghostscript's bolder
    strokes) every candidate is far from the input, and absolute distances then overrule the
    model on noise; relative to the closest candidate, only a clearly better picture does. On
    300 fresh synthetic formulas, tuned: 50.7 -> 61.3% exact in our look, 52.3 -> 55.7% in
    Ghostscript's, 39.0 -> 40.3% in Times (absolute distances, tuned the same way: 57.3, 55.7,
    40.0; and on the test formulas in Times and pxfonts they lost exact matches)."""
    if is_sure(scores, cfg):
        return 0
    known = [(i, d) for i, d in enumerate(distances) if d is not None]
    if not known:
        return 0
    closest = max(min(d for _, d in known), 1e-6)

    def excess(d: float) -> float:
        return (d - closest) / closest

    if distances[0] is not None and excess(distances[0]) < cfg.margin:
        return 0
    return max(known, key=lambda item: scores[item[0]] - cfg.weight * excess(item[1]))[0]


def is_sure(scores: Sequence[float], cfg: VerifyConfig) -> bool:
    """The model's answer leads the next candidate by `cfg.sure` or more: keep it unseen."""
    return len(scores) < 2 or scores[0] - scores[1] >= cfg.sure


class Verifier:
    """Typesets candidates (cached) and picks among them by picture (see the module docstring)."""

    def __init__(self, cfg: VerifyConfig | None = None, render_cfg: object | None = None) -> None:
        from img2tex.rendering.renderer import FONTS, RenderConfig, check_tools, font_available

        self.cfg = cfg or VerifyConfig()
        base = render_cfg or RenderConfig(batch_size=200)
        unknown = [look for look in self.cfg.looks if look not in FONTS and look not in EXTRA_LOOKS]
        if unknown or not self.cfg.looks:
            what = f"unknown verifier look {unknown[0]!r}" if unknown else "no verifier looks"
            raise ValueError(f"{what}; choose fonts of {', '.join(FONTS)} or {', '.join(EXTRA_LOOKS)}")
        self.render_cfgs: dict[str, object] = {}
        for look in self.cfg.looks:
            fields = EXTRA_LOOKS.get(look, {"font": look})
            cfg = dataclasses.replace(base, **fields)  # type: ignore[type-var]
            if not self.render_cfgs:  # the first look is the fallback: it must work
                check_tools(cfg.font, cfg.rasterizer)
            elif not font_available(cfg.font, cfg.rasterizer):
                continue  # a font this machine lacks
            self.render_cfgs[look] = cfg
        self.looks: tuple[str, ...] = tuple(self.render_cfgs)
        self._signatures: dict[tuple[str, str], tuple[np.ndarray, float] | None] = {}

    def typeset(self, look: str, token_strings: Sequence[str]) -> None:
        """Typeset the token strings not yet cached in `look`, all in one LaTeX run, and cache their
        signatures (a failure caches None): the later `candidate`, `distances` and `pick` calls on
        them then typeset nothing. Batch a whole folder's candidates through this first: one run
        per look is far cheaper than one per image."""
        from img2tex.rendering.renderer import typeset_arrays
        from img2tex.tokenizer import to_latex

        todo = sorted({t for t in token_strings if t and (look, t) not in self._signatures})
        if not todo:
            return
        arrays: list[np.ndarray | None] = [None] * len(todo)
        with contextlib.suppress(RenderError):  # what did not typeset is cached as None below
            arrays = typeset_arrays([to_latex(t) for t in todo], self.render_cfgs[look])  # type: ignore[arg-type]
        for tokens, a in zip(todo, arrays):
            self._signatures[(look, tokens)] = None if a is None else signature(a)

    def candidate(self, tokens: str, look: str | None = None) -> tuple[np.ndarray, float] | None:
        """The signature of a candidate's picture typeset in `look` (default: the first); None: it
        does not typeset."""
        look = look or self.looks[0]
        if not tokens:
            return None
        self.typeset(look, [tokens])
        return self._signatures.get((look, tokens))

    def _look_for(self, sig: tuple[np.ndarray, float] | None, top: str) -> str:
        """The look whose picture of the model's answer comes closest to the input; the first
        when none typesets it."""
        best, best_d = self.looks[0], math.inf
        if sig is None or not top:
            return best
        for look in self.looks:
            c = self._signatures.get((look, top))
            if c is not None and (d := distance(sig, c, self.cfg)) < best_d:
                best, best_d = look, d
        return best

    def look_of(self, image: np.ndarray, answer: str) -> str:
        """The look (of `self.looks`) whose picture of `answer` comes closest to `image`."""
        return self._nearest_look(signature(image), answer)

    def _nearest_look(self, sig: tuple[np.ndarray, float] | None, answer: str) -> str:
        """`look_of` for an input's signature: `answer` typeset in every look, the closest kept."""
        for look in self.looks:
            self.typeset(look, [answer])
        return self._look_for(sig, answer)

    def pick(self, images: Sequence[np.ndarray], candidates: Sequence[Sequence[tuple[str, float]]]) -> list[int]:
        """For each input image (grey, ink dark) and its candidates ((token form, score), best
        first), the index of the candidate to answer with.

        Sure answers (`is_sure`) are kept unseen. Otherwise each image's first candidate is
        typeset in every look and the rest only in the look that drew the first one closest to
        the input (with `every_look`, every candidate in every look): at most two LaTeX runs per
        look for the whole batch."""
        sigs = [None if is_sure([s for _, s in c], self.cfg) else signature(im) for im, c in zip(images, candidates)]
        if self.cfg.every_look:
            for look in self.looks:
                self.typeset(look, [t for s, c in zip(sigs, candidates) if s for t, _ in c])
            looks: list[str | None] = [None] * len(sigs)
        else:
            tops = [c[0][0] if c else "" for c in candidates]
            for look in self.looks:
                self.typeset(look, [t for t, s in zip(tops, sigs) if s is not None])
            looks = [self._look_for(s, t) for s, t in zip(sigs, tops)]
            for look in self.looks:
                self.typeset(look, [t for f, s, c in zip(looks, sigs, candidates) if f == look and s for t, _ in c])
        out = []
        for sig, look, cands in zip(sigs, looks, candidates):
            if sig is None:
                out.append(0)
                continue
            tokens = [t for t, _ in cands]
            if look is None:  # every look: each candidate's smallest distance over them
                per_look = [self._distances(sig, tokens, f) for f in self.looks]
                dists = [min((d for d in ds if d is not None), default=None) for ds in zip(*per_look)]
            else:
                dists = self._distances(sig, tokens, look)
            out.append(choose(dists, [s for _, s in cands], self.cfg))
        return out

    def distances(self, image: np.ndarray, token_strings: Sequence[str], look: str | None = None) -> list[float | None]:
        """Each candidate's picture distance to `image` (None: it does not typeset), in `look`
        (default: the one `pick` would choose, from the first candidate)."""
        sig = signature(image)
        if sig is None:
            return [None] * len(token_strings)
        if look is None:
            look = self._nearest_look(sig, token_strings[0] if token_strings else "")
        self.typeset(look, token_strings)
        return self._distances(sig, token_strings, look)

    def _distances(self, sig: tuple[np.ndarray, float], token_strings: Sequence[str], look: str) -> list[float | None]:
        cands = [self.candidate(t, look) for t in token_strings]
        return [None if c is None else distance(sig, c, self.cfg) for c in cands]
