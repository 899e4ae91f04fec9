"""Tests for img2tex.rendering.katex: formulas drawn by KaTeX in headless Chromium (`render
--rasterizer katex`). Skipped where Debian's chromium and chromium-driver are not installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2tex.errors import RenderError
from img2tex.rendering import renderer as render
from img2tex.rendering.renderer import RenderConfig, render_formulas


def test_katex_ships_with_the_package() -> None:
    """The page's KaTeX is what the katex rasterizer draws with: found wherever the module lives."""
    from img2tex.rendering.katex import KATEX_DIR

    assert (KATEX_DIR / "katex.min.js").is_file() and (KATEX_DIR / "fonts").is_dir()


@pytest.fixture
def _needs_browser() -> None:
    """Skips without the browser (Debian's chromium and chromium-driver, and selenium); with
    them, a rasterizer that still cannot run is a failure, not a skip."""
    import importlib.util
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver") and importlib.util.find_spec("selenium")):
        pytest.skip("needs chromium, chromium-driver and selenium (see README)")
    assert render.font_available("cm", "katex"), "the browser is here, yet the katex rasterizer cannot run"


def _image(folder: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(folder / "images_processed" / name))


@pytest.mark.usefixtures("needs_latex", "_needs_browser")
def test_katex_draws_each_formula_at_the_size_tex_does(tmp_path: Path) -> None:
    """Widths that differ a lot, so that an image cut from the wrong part of the page would show;
    KaTeX's em is set to TeX's 12 pt at the render dpi."""
    formulas = ["x", r"a+b+c+d+e+f+g+h+i+j+k", r"\frac{1}{2}", r"\sum_{i=1}^{n} i^2 + \int_0^1 f(x)\,dx"]
    render_formulas(formulas, tmp_path / "tex", RenderConfig(jobs=1))
    rep = render_formulas(formulas, tmp_path / "web", RenderConfig(jobs=1, rasterizer="katex"))
    assert rep.rendered == 4 and not rep.failed
    for line in (tmp_path / "tex" / "train_filter.lst").read_text().splitlines():
        name = line.split()[0]
        a, b = _image(tmp_path / "tex", name), _image(tmp_path / "web", name)
        assert abs(a.shape[1] - b.shape[1]) <= 0.1 * a.shape[1] + 3, name
        assert abs(a.shape[0] - b.shape[0]) <= 0.15 * a.shape[0] + 3, name
        assert b.min() < 60 and b[0].min() == 255  # dark ink, white margin: the processed look


@pytest.mark.usefixtures("_needs_browser")
def test_a_bad_formula_costs_only_itself_and_markup_stays_text(tmp_path: Path) -> None:
    formulas = [
        "x^2",
        r"\mit x",  # not in KaTeX
        r"\rule{500cm}{500cm}",  # capped by KaTeX's maxSize, then over the page limits
        r"\text{<img src=x onerror=alert(1)>}",  # data, never markup: typeset as characters
        r"\frac{a}{b}",
    ]
    rep = render_formulas(formulas, tmp_path, RenderConfig(jobs=1, rasterizer="katex"))
    bad = {d["index"]: str(d["reason"]) for d in rep.failed}
    assert set(bad) == {1, 2}, bad
    assert bad[1].startswith("katex: KaTeX parse error: Undefined control sequence: \\mit")
    assert bad[2].startswith("page too large")
    assert rep.rendered == 3
    text = _image(tmp_path, render.default_name(formulas[3]) + ".png")
    assert text.shape[1] > 4 * _image(tmp_path, render.default_name("x^2") + ".png").shape[1]


@pytest.mark.usefixtures("_needs_browser")
def test_augmentation_and_settings_apply_to_katex_pages(tmp_path: Path) -> None:
    cfg = RenderConfig(jobs=1, rasterizer="katex", seed=4, colour=1.0, stroke=1.0, gamma=0.4)
    render_formulas(["x+y"], tmp_path / "a", cfg)
    render_formulas(["x+y"], tmp_path / "b", cfg)
    name = render.default_name("x+y") + ".png"
    assert np.array_equal(_image(tmp_path / "a", name), _image(tmp_path / "b", name))  # seeded per image
    with pytest.raises(RenderError, match="KaTeX's own fonts"):
        RenderConfig(rasterizer="katex", font="times").validate()
