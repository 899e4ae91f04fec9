"""Verified decoding: picture signatures that ignore scale and stroke weight but not the formula,
the choice between the model and the picture evidence, and the reader and command using it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from img2tex.decoding.verify import Verifier, VerifyConfig, choose, distance, signature

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def test_signature_ignores_scale_and_stroke_weight_but_not_the_formula() -> None:
    cfg = VerifyConfig()
    quad = _grey(EXAMPLES / "quadratic.png")
    im = Image.fromarray(quad)
    bigger_bolder = np.asarray(im.resize((im.width * 2, im.height * 2)).filter(ImageFilter.MinFilter(3)))
    same = distance(signature(quad), signature(bigger_bolder), cfg)
    other = distance(signature(quad), signature(_grey(EXAMPLES / "basel.png")), cfg)
    assert same < 0.5 * other
    assert signature(np.full((20, 40), 255, np.uint8)) is None


def test_tolerance_forgives_ink_a_pixel_away_but_not_farther() -> None:
    def bar(x: int) -> tuple[np.ndarray, float]:
        a = np.zeros((32, 64), np.float32)
        a[8:24, x : x + 2] = 1.0
        return a, 2.0

    strict, tolerant = VerifyConfig(blur=0, aspect=0), VerifyConfig(blur=0, aspect=0, tolerance=1)
    assert distance(bar(10), bar(11), strict) > 0.5
    assert distance(bar(10), bar(11), tolerant) == 0.0
    assert distance(bar(10), bar(16), tolerant) == pytest.approx(distance(bar(10), bar(16), strict))


def test_choose_weighs_the_model_against_the_picture() -> None:
    scores = [-0.1, -0.3, -0.5]
    # relative excess over the closest (0.1): 8, 1, 0
    assert choose([0.9, 0.2, 0.1], scores, VerifyConfig(weight=1.0, sure=math.inf)) == 2  # -8.1, -1.3, -0.5
    assert choose([0.9, 0.2, 0.1], scores, VerifyConfig(weight=0.01, sure=math.inf)) == 0  # weak weight: the model wins
    # in a foreign look every distance is large: only the relative differences count
    assert choose([9.9, 9.2, 9.1], scores, VerifyConfig(weight=1.0, sure=math.inf)) == 0
    assert (
        choose([None, 0.5, None], scores, VerifyConfig(weight=0.1, sure=math.inf)) == 1
    )  # the top one does not typeset
    assert choose([None, None], scores[:2], VerifyConfig(sure=math.inf)) == 0
    assert (
        choose([0.30, 0.28, 0.29], scores, VerifyConfig(weight=10.0, margin=0.1, sure=math.inf)) == 0
    )  # weak evidence


def test_a_sure_answer_is_kept_without_typesetting(needs_latex) -> None:
    cands = [("x _ { 2 }", -0.1), ("x ^ { 2 }", -0.9)]
    grey = np.full((30, 60), 255, np.uint8)
    grey[10:20, 10:50] = 0
    assert choose([0.9, 0.1], [s for _, s in cands], VerifyConfig(weight=1.0, sure=0.5)) == 0
    assert choose([0.9, 0.1], [s for _, s in cands], VerifyConfig(weight=1.0, sure=1.0)) == 1
    verifier = Verifier(VerifyConfig(sure=0.5))
    assert verifier.pick([grey], [cands]) == [0]
    assert not verifier._signatures  # nothing was typeset


def test_the_verifier_picks_the_candidate_that_looks_like_the_image(needs_latex) -> None:
    from img2tex.rendering.renderer import RenderConfig, render_formulas

    out = Path(__file__).parent
    image = render_formulas(["x ^ { 2 } + y"], out / "_verify_tmp", RenderConfig(), names=["img"])
    try:
        grey = _grey(out / "_verify_tmp" / "images_processed" / "img.png")
    finally:
        import shutil

        shutil.rmtree(out / "_verify_tmp", ignore_errors=True)
    assert image.ok == 1
    verifier = Verifier(VerifyConfig(weight=2.0, sure=math.inf))
    cands = [("x _ { 2 } + y", -0.1), ("x ^ { 2 } + y", -0.2), ("\\frac { x } {", -0.3)]
    assert verifier.pick([grey], [cands]) == [1]
    dists = verifier.distances(grey, [t for t, _ in cands])
    assert dists[1] is not None and dists[0] is not None and dists[1] < dists[0]
    assert dists[2] is None  # does not typeset
    every = Verifier(VerifyConfig(weight=2.0, sure=math.inf, every_look=True))
    assert every.pick([grey], [cands]) == [1]
    assert {f for f, _ in every._signatures} == set(every.looks)  # each candidate in each look


@pytest.mark.parametrize("font", ["times", "palatino"])
def test_the_verifier_finds_the_inputs_font(needs_latex, tmp_path, font) -> None:  # type: ignore[no-untyped-def]
    from img2tex.rendering.renderer import RenderConfig, font_available, render_formulas

    if not font_available(font):
        pytest.skip(f"{font} is not installed")
    tokens = "\\alpha + \\beta = \\frac { x } { y ^ { 2 } }"
    render_formulas([tokens], tmp_path, RenderConfig(font=font, rasterizer="gs"), names=["img"])
    grey = _grey(tmp_path / "images_processed" / "img.png")
    verifier = Verifier()
    assert verifier.looks[0] == "cm" and font in verifier.looks
    assert verifier.look_of(grey, tokens) == font


def test_the_verifier_finds_a_screenshots_pixel_grid(needs_latex, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from img2tex.decoding.verify import EXTRA_LOOKS
    from img2tex.rendering.renderer import RenderConfig, render_formulas

    tokens = "\\alpha + \\beta = \\frac { x } { y ^ { 2 } }"
    render_formulas([tokens], tmp_path, RenderConfig(**EXTRA_LOOKS["screen"]), names=["img"])  # type: ignore[arg-type]
    grey = _grey(tmp_path / "images_processed" / "img.png")
    verifier = Verifier(VerifyConfig(looks=("cm", "screen")))
    assert verifier.look_of(grey, tokens) == "screen"


def test_an_unknown_look_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown verifier look 'comic'"):
        Verifier(VerifyConfig(looks=("cm", "comic")))


def test_predict_verify_reads_the_examples(needs_latex) -> None:
    from img2tex.predict import Img2Tex

    images = sorted(EXAMPLES.glob("*.png"))
    right = [p.latex for p in Img2Tex().predict(images)]  # beam 2 reads all five exactly
    verified = Img2Tex(verify=True).predict(images)
    assert all(p.ok and p.latex for p in verified)
    # Four of five stay right. Ampere's \vec{B} is read as \bar{B}: the example was typeset
    # with an arrow lower than our renderer draws, so the \vec candidate's picture is the taller
    # one (a look the verifier does not yet compensate).
    assert sum(p.latex == r for p, r in zip(verified, right)) >= 4


def test_verify_without_latex_is_one_line(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    from img2tex.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["img2tex", "predict", str(EXAMPLES / "quadratic.png"), "--verify"])
    with pytest.raises(SystemExit) as info:
        main()
    _, err = capsys.readouterr()
    assert info.value.code == 1 and "not found; install" in err and len(err.strip().splitlines()) == 1
