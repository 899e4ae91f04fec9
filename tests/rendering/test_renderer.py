"""Tests for img2tex.rendering.renderer: batches with broken and hostile formulas, resuming, fonts, safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2tex.errors import RenderError
from img2tex.rendering import renderer as render
from img2tex.rendering.renderer import RenderConfig, render_formulas, unsafe_reason

pytestmark = pytest.mark.usefixtures("needs_latex")

GOOD = [r"a^2+b^2=c^2", r"\frac{1}{2}\sqrt{x}", r"\sum_{i=1}^{n} i", r"\alpha+\beta"]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _loose_normalize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let formulas through that the real normalizer rejects, so TeX itself sees them."""
    import img2tex.tokenizer

    monkeypatch.setattr(img2tex.tokenizer, "normalize", lambda s: " ".join(s.split()))


def test_renders_processed_layout(tmp_path: Path) -> None:
    rep = render_formulas(GOOD, tmp_path, RenderConfig(jobs=2), split="validate")
    assert rep.rendered == 4 and not rep.failed
    from img2tex.tokenizer import normalize

    assert _lines(tmp_path / "formulas.norm.lst") == [normalize(f) for f in GOOD]
    rows = [line.split() for line in _lines(tmp_path / "validate_filter.lst")]
    assert [int(i) for _, i in rows] == [0, 1, 2, 3]
    for file, _ in rows:
        im = Image.open(tmp_path / "images_processed" / file)
        a = np.asarray(im)
        assert im.mode == "L" and a.min() < 64 and a.max() == 255
        assert (a[0, :] == 255).all() and (a[:, -1] == 255).all()  # 8 px pad halved: white border
    report = json.loads((tmp_path / "render_report.json").read_text())
    assert report["ok"] == 4 and report["failed_count"] == 0


def test_processed_look_size(tmp_path: Path) -> None:
    # one line of text at 12pt/200dpi, halved: roughly 20-30 px high
    render_formulas(["x+y"], tmp_path, RenderConfig(jobs=1), names=["xy"])
    h, w = np.asarray(Image.open(tmp_path / "images_processed" / "xy.png")).shape
    assert 15 <= h <= 35 and w > h


def test_broken_formulas_do_not_cost_neighbours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _loose_normalize(monkeypatch)
    formulas = [GOOD[0], r"\frac{a}{b", GOOD[1], r"\undefinedmacro x", GOOD[2], GOOD[3]]
    rep = render_formulas(formulas, tmp_path, RenderConfig(jobs=1, batch_size=100))
    bad = {d["index"]: d["reason"] for d in rep.failed}
    assert set(bad) == {1, 3}
    assert "Undefined control sequence" in str(bad[3])
    assert [int(line.split()[1]) for line in _lines(tmp_path / "train_filter.lst")] == [0, 2, 4, 5]
    # Each formula is typeset in a box of its own, so the runaway \frac ends there and the next
    # formula comes out exactly as it does alone.
    alone = tmp_path / "alone"
    render_formulas([GOOD[1]], alone, RenderConfig(jobs=1), names=["x"])
    name = _lines(tmp_path / "train_filter.lst")[1].split()[0]
    assert (tmp_path / "images_processed" / name).read_bytes() == (alone / "images_processed" / "x.png").read_bytes()


def test_typeset_arrays_are_the_written_images_in_memory(tmp_path: Path) -> None:
    """`typeset_arrays` returns what `render_formulas` writes, pixel for pixel, in input order;
    a formula TeX rejects, an empty one and a refused one come back None, their neighbours intact."""
    from img2tex.rendering.renderer import typeset_arrays

    cfg = RenderConfig(jobs=2, batch_size=3)
    formulas = [GOOD[0], r"\undefinedmacro x", GOOD[1], "", r"\input{/etc/passwd}", GOOD[2], GOOD[3]]
    arrays = typeset_arrays(formulas, cfg)
    assert [a is None for a in arrays] == [False, True, False, True, True, False, False]
    render_formulas(GOOD, tmp_path, cfg, names=["a", "b", "c", "d"])
    for a, name in zip([arrays[0], arrays[2], arrays[5], arrays[6]], "abcd"):
        written = np.asarray(Image.open(tmp_path / "images_processed" / f"{name}.png"))
        assert a is not None and a.dtype == np.uint8 and np.array_equal(a, written)
    assert typeset_arrays([], cfg) == []


def test_normalize_rejects_are_reported(tmp_path: Path) -> None:
    rep = render_formulas([GOOD[0], r"\frac{a}{b"], tmp_path, RenderConfig(jobs=1))
    assert [d["index"] for d in rep.failed] == [1]
    assert str(rep.failed[0]["reason"]).startswith("normalize")
    assert _lines(tmp_path / "formulas.norm.lst")[1] == ""


HOSTILE = [
    r"\input{/etc/passwd}",
    r"\write18{touch HOSTILE_TOUCHED}",
    r"\immediate\openout3=HOSTILE_OPENOUT \immediate\write3{x}",
    r"\immediate \write 18 {touch HOSTILE_TOUCHED}",
    r"\def\x{y}\x",
    r"\catcode`\|=0 |input /etc/passwd",
    r"\csname input\endcsname /etc/passwd",
    r"x \end{document}",
    r"\^^69nput /etc/passwd",
    r"\pdffiledump length 10 {/etc/passwd}",
    r"\special{ps: foo}",
    r"\read16 to \x",
]


@pytest.mark.parametrize("formula", HOSTILE)
def test_screen_refuses_hostile(formula: str) -> None:
    assert unsafe_reason(formula) is not None


@pytest.mark.parametrize(
    "formula",
    [
        r"a \% b",
        r"\$ 5",
        r"\# x",
        r"\begin{array}{cc} a & b \end{array}",
        r"\left( x \right)",
        r"\overline{x}",
        r"\endline"[:0] + r"x^{2}",
    ],
)
def test_screen_allows_normal(formula: str) -> None:
    assert unsafe_reason(formula) is None


def test_hostile_batch_is_harmless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _loose_normalize(monkeypatch)
    monkeypatch.chdir(tmp_path)
    formulas = [GOOD[0], *HOSTILE, GOOD[1]]
    rep = render_formulas(formulas, tmp_path / "out", RenderConfig(jobs=1))
    assert {d["index"] for d in rep.failed} == set(range(1, len(HOSTILE) + 1))
    assert rep.rendered == 2
    assert not list(tmp_path.rglob("HOSTILE_*")) and not Path("/tmp/HOSTILE_TOUCHED").exists()


def test_tex_itself_is_locked_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with the screen switched off, TeX cannot run commands, write or read outside its folder."""
    _loose_normalize(monkeypatch)
    monkeypatch.setattr(render, "unsafe_reason", lambda f: None)
    target = tmp_path / "written.tex"
    touched = tmp_path / "touched"
    secret = tmp_path / "secret.tex"
    secret.write_text("\\typeout{SECRETWORD}")
    formulas = [
        "x",
        rf"\immediate\write18{{touch {touched}}} y",
        rf"\immediate\openout5={target} \immediate\write5{{hi}}\immediate\closeout5 y",
        rf"\input{{{secret}}}",
        "z",
    ]
    rep = render_formulas(formulas, tmp_path / "out", RenderConfig(jobs=1))
    assert not touched.exists() and not target.exists()
    bad = {d["index"]: str(d["reason"]) for d in rep.failed}
    assert 2 in bad and 3 in bad and "not found" in bad[3]
    assert 0 not in bad and 4 not in bad  # neighbours still rendered


def test_resume_skips_existing(tmp_path: Path) -> None:
    cfg = RenderConfig(jobs=1)
    render_formulas(GOOD[:2], tmp_path, cfg)
    first = sorted((tmp_path / "images_processed").iterdir())
    stamp = {p.name: p.stat().st_mtime_ns for p in first}
    rep = render_formulas(GOOD, tmp_path, cfg)
    assert rep.skipped_existing == 2 and rep.rendered == 2
    assert all(p.stat().st_mtime_ns == stamp[p.name] for p in first)
    assert len(_lines(tmp_path / "train_filter.lst")) == 4
    with pytest.raises(RenderError, match="other settings"):
        render_formulas(GOOD, tmp_path, RenderConfig(jobs=1, dpi=300))


def test_rerun_does_not_retry_what_tex_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _loose_normalize(monkeypatch)
    formulas = [GOOD[0], r"x + \nosuchmacro y", GOOD[1]]
    cfg = RenderConfig(jobs=1)
    first = render_formulas(formulas, tmp_path, cfg)
    assert [d["index"] for d in first.failed] == [1] and first.latex_runs > 0
    again = render_formulas(formulas, tmp_path, cfg)
    assert again.latex_runs == 0 and again.skipped_existing == 2
    assert again.failed == first.failed
    # A changed formula under the same name is new work; --retry-failed gives TeX another go.
    assert render_formulas(formulas, tmp_path, RenderConfig(jobs=1, retry_failed=True)).latex_runs > 0
    changed = render_formulas(
        [GOOD[0], r"x + y", GOOD[1]], tmp_path, cfg, names=[render.default_name(f) for f in formulas]
    )
    assert changed.rendered == 1 and not changed.failed


def test_augmentation_is_seeded(tmp_path: Path) -> None:
    aug = RenderConfig(jobs=1, dpi_jitter=0.2, extra_pad=5, blur=1.0, noise=10, jpeg_quality=50, seed=3)
    render_formulas(GOOD[:2], tmp_path / "a", aug)
    render_formulas(GOOD[:2], tmp_path / "b", RenderConfig(**{**aug.__dict__, "batch_size": 1}))
    render_formulas(GOOD[:2], tmp_path / "c", RenderConfig(jobs=1))
    for p in (tmp_path / "a" / "images_processed").iterdir():
        a = np.asarray(Image.open(p))
        assert np.array_equal(a, np.asarray(Image.open(tmp_path / "b" / "images_processed" / p.name)))
        assert not np.array_equal(
            a.shape, np.asarray(Image.open(tmp_path / "c" / "images_processed" / p.name)).shape
        ) or not np.array_equal(a, np.asarray(Image.open(tmp_path / "c" / "images_processed" / p.name)))


def test_bad_settings_and_missing_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RenderError, match="unknown font"):
        render_formulas(GOOD, tmp_path, RenderConfig(font="comic"))
    with pytest.raises(RenderError, match="unknown rasterizer"):
        render_formulas(GOOD, tmp_path, RenderConfig(rasterizer="mspaint"))
    with pytest.raises(RenderError, match="stroke"):
        render_formulas(GOOD, tmp_path, RenderConfig(stroke=9))
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match="texlive-latex-base preview-latex-style dvipng"):
        render_formulas(GOOD, tmp_path, RenderConfig())


@pytest.mark.parametrize("font", sorted(set(render.FONTS) - {"cm"}))
def test_other_fonts(tmp_path: Path, font: str) -> None:
    if not render.font_available(font):
        pytest.skip(f"font {font} not installed")
    rep = render_formulas(GOOD[:2], tmp_path, RenderConfig(font=font, jobs=1))
    assert rep.rendered == 2


def test_write_packed_option(tmp_path: Path) -> None:
    from img2tex.data.packed import PackedSplit

    render_formulas(GOOD, tmp_path, RenderConfig(jobs=2, write_packed=True))
    ds = PackedSplit(tmp_path / "packed")
    assert len(ds) == 4 and ds.shape(0) == ds.image(0).shape


def _needs_rasterizer(rasterizer: str) -> None:
    if not render.font_available("cm", rasterizer):
        pytest.skip(f"{rasterizer} or pdflatex not installed")


@pytest.mark.parametrize("rasterizer", ["gs", "pdftoppm"])
def test_pdf_rasterizers_match_dvipng_page_for_page(tmp_path: Path, rasterizer: str) -> None:
    _needs_rasterizer(rasterizer)
    # Widths that differ a lot: an image given to the wrong formula would show.
    formulas = ["x", r"a+b+c+d+e+f+g+h+i+j+k", r"\frac{1}{2}", r"\sum_{i=1}^{n} i^2 + \int_0^1 f(x)\,dx"]
    render_formulas(formulas, tmp_path / "dvi", RenderConfig(jobs=1))
    rep = render_formulas(formulas, tmp_path / "pdf", RenderConfig(jobs=1, rasterizer=rasterizer))
    assert rep.rendered == 4 and not rep.failed
    for name in (line.split()[0] for line in _lines(tmp_path / "dvi" / "train_filter.lst")):
        a = np.asarray(Image.open(tmp_path / "dvi" / "images_processed" / name))
        b = np.asarray(Image.open(tmp_path / "pdf" / "images_processed" / name))
        assert abs(a.shape[1] - b.shape[1]) <= 0.1 * a.shape[1] + 3, name
        assert abs(a.shape[0] - b.shape[0]) <= 0.15 * a.shape[0] + 3, name


def test_pdflatex_runaway_does_not_cost_neighbours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pdflatex loses the whole PDF after a fatal error; the good formulas go round again."""
    _needs_rasterizer("gs")
    _loose_normalize(monkeypatch)
    formulas = [GOOD[0], r"\frac{a}{b", GOOD[1], r"\undefinedmacro x", GOOD[2]]
    rep = render_formulas(formulas, tmp_path, RenderConfig(jobs=1, batch_size=100, rasterizer="gs"))
    bad = {d["index"]: str(d["reason"]) for d in rep.failed}
    assert set(bad) == {1, 3} and bad[3].startswith("pdflatex:")
    assert [int(line.split()[1]) for line in _lines(tmp_path / "train_filter.lst")] == [0, 2, 4]


def _ink(a: np.ndarray) -> float:
    return float((255 - a.astype(np.float64)).sum())


def test_stroke_and_gamma_change_ink_in_the_stated_direction() -> None:
    page = np.full((60, 80), 255, np.uint8)
    page[20:40, 30:34] = 0  # a 4 px stroke
    page[19, 30:34] = page[40, 30:34] = 128  # anti-aliased ends
    assert _ink(render.adjust_stroke(page, 1.0)) > _ink(page) > _ink(render.adjust_stroke(page, -0.5))
    wider = render.adjust_stroke(page, 1.0)  # padded so that edge strokes can grow: find the offset
    m = (wider.shape[0] - page.shape[0]) // 2
    assert wider[30 + m, 29 + m] == 0 and wider[30 + m, 34 + m] == 0  # one px wider on each side
    assert wider[30 + m, 28 + m] == 255 and wider[30 + m, 35 + m] == 255  # and no more
    assert _ink(render.ink_gamma(page, 0.5)) > _ink(page) > _ink(render.ink_gamma(page, 2.0))
    assert np.array_equal(render.ink_gamma(page, 1.0), page)


def test_colour_and_dark_mode_come_back_as_ink_on_white() -> None:
    import random

    from img2tex.images import ink_on_white

    page = np.full((40, 120), 255, np.uint8)
    page[15:25, 10:110] = 0
    for seed in range(12):
        rgb = render.colourize(page, random.Random(seed))
        assert rgb.shape == (40, 120, 3)
        grey = ink_on_white(Image.fromarray(rgb))
        ink, paper = grey[15:25, 10:110].mean(), np.concatenate([grey[:10].ravel(), grey[-10:].ravel()]).mean()
        assert paper - ink > 60, seed  # dark ink on light paper whatever the scheme


def test_look_options_are_seeded_and_rescale_reaches_the_reference_glyph_size(tmp_path: Path) -> None:
    from img2tex.images import ImageConfig, crop_to_content, estimate_text_height

    look = RenderConfig(jobs=1, gamma=0.5, stroke=0.8, colour=1.0, seed=4)
    render_formulas(GOOD, tmp_path / "a", look)
    render_formulas(GOOD, tmp_path / "b", RenderConfig(**{**look.__dict__, "batch_size": 1}))
    for p in (tmp_path / "a" / "images_processed").iterdir():
        assert np.array_equal(
            np.asarray(Image.open(p)), np.asarray(Image.open(tmp_path / "b" / "images_processed" / p.name))
        )
    big = RenderConfig(jobs=1, dpi=600, downsample=1, rescale=True)
    render_formulas([r"a+b=c+d", r"x_1+y_2"], tmp_path / "big", big)
    for p in (tmp_path / "big" / "images_processed").iterdir():
        est = estimate_text_height(crop_to_content(np.asarray(Image.open(p))))
        assert abs(est / ImageConfig().text_height - 1) < 0.3, (p.name, est)


def test_a_formula_that_hangs_tex_costs_only_itself(tmp_path: Path) -> None:
    # From the hep-th formulas: `\\ [ \alpha , \delta ]` reads a bracket as a row-gap length and TeX loops.
    hang = (
        r"\begin{array} { l l } { a } & { b } \\ [ \alpha , \delta ] { = 0 \quad , \qquad } "
        r"& { [ \gamma , \delta ] = 0 } \\ \end{array}"
    )
    formulas = [GOOD[0], GOOD[1], hang, GOOD[2]]
    rep = render_formulas(formulas, tmp_path, RenderConfig(jobs=1, timeout_s=2.0))
    assert [d["index"] for d in rep.failed] == [2] and "timed out" in str(rep.failed[0]["reason"])
    assert rep.rendered == 3
    assert render.batch_timeout(RenderConfig(), 500) == 15.0 and render.batch_timeout(RenderConfig(), 1) == 5.02


@pytest.mark.parametrize("rasterizer", ["dvipng", "gs"])
def test_giant_pages_are_left_out_before_rasterizing(tmp_path: Path, rasterizer: str) -> None:
    """A page over the size limits is never shipped by TeX, so neither the rasterizer nor Pillow
    sees it; the formulas beside it in the batch are rendered (the 1.5-gigapixel \\rule once
    cost the whole batch)."""
    formulas = [r"\rule{500cm}{500cm}", GOOD[0], r"\rule{1pt}{300cm}", GOOD[1], r"\hspace{20000cm}x", GOOD[2]]
    rep = render_formulas(formulas, tmp_path, RenderConfig(jobs=1, rasterizer=rasterizer))
    bad = {d["index"]: str(d["reason"]) for d in rep.failed}
    assert set(bad) == {0, 2, 4}, bad
    assert bad[0].startswith("page too large (39370x39370 px at 200 dpi)")
    assert bad[2].startswith("page too large (3x23622 px")
    assert "Dimension too large" in bad[4]  # past TeX's own largest dimension
    assert rep.rendered == 3


def test_page_limits_are_settings(tmp_path: Path) -> None:
    wide = r"x_1+x_2+x_3+x_4+x_5+x_6+x_7+x_8+x_9"
    rep = render_formulas([wide, "x"], tmp_path, RenderConfig(jobs=1, max_side_px=200))
    assert [d["index"] for d in rep.failed] == [0] and "page too large" in str(rep.failed[0]["reason"])
    rep = render_formulas([wide], tmp_path / "b", RenderConfig(jobs=1, max_pixels=2000))
    assert "page too large" in str(rep.failed[0]["reason"])
    with pytest.raises(RenderError, match="max_side_px"):
        RenderConfig(max_side_px=1).validate()
