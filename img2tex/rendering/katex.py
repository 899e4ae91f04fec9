"""Formulas drawn by KaTeX in headless Chromium: how formulas look on web pages.

Why it is built this way:
- Users photograph and screenshot formulas from web pages as often as from PDFs, and a browser
  draws them with its own font rasterizer, hinting and anti-aliasing, in KaTeX's fonts. The
  KaTeX the package already ships for `img2tex serve` (img2tex/web/static/katex) renders them,
  offline, with the same version everywhere.
- Starting Chromium costs about a second, so one browser typesets a whole batch on one page:
  each formula in a block of its own, separated by white space, measured by the page, and shot
  in a few tall strips (one screenshot per strip, not per formula), then cut apart.
- Safety: formulas reach the page as JSON data, never as HTML; KaTeX runs with `trust: false`
  (no \\href, \\url, \\includegraphics: nothing is fetched), `maxExpand` caps macro expansion and
  `maxSize` caps rules and spaces. Formulas pass `render.unsafe_reason` first, as for TeX. A box
  over the page limits is reported and never shot.
- Size: KaTeX's em is the formula's font size; it is set so that 1 em is 12 pt at the render
  dpi, as in `render._document` (im2latex typeset at 12 pt), and formulas are in display style.
"""

from __future__ import annotations

import base64
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from img2tex.errors import RenderError

KATEX_DIR = Path(__file__).resolve().parents[1] / "web" / "static" / "katex"
#: Height of one screenshot strip, in CSS pixels (Chromium draws taller captures in tiles anyway).
STRIP_PX = 4000
#: Blank space around each formula's block, in em: glyphs that stick out of KaTeX's box (italic
#: overhangs, big operators) stay inside their own block.
MARGIN_EM = 1.0

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="{css}">
<style>
html, body {{ margin: 0; padding: 0; background: #fff; color: #000; }}
#box {{ position: absolute; left: 0; top: 0; }}
#box > div {{ display: block; width: max-content; padding: {margin}em; }}
#box .katex {{ font-size: 1em; }}
</style>
<script src="{js}"></script>
</head><body><div id="box"></div>
<script>
// Render each formula into a block of its own; return per formula [left, top, width, height]
// of its box in CSS pixels (the block's padding is the margin around it), or an error message.
// KaTeX's fonts are loaded before anything is typeset: a box measured before its font has
// arrived has the fallback font's size (seen under load: boxes several times too large).
window.img2texFonts = function (done) {{
  const faces = [];
  document.fonts.forEach(function (f) {{ faces.push(f.load().catch(function () {{ return null; }})); }});
  Promise.all(faces).then(function () {{
    done(faces.length);
  }});
}};
window.img2texRender = function (formulas, fontPx, maxSize, done) {{
  const box = document.getElementById("box");
  box.textContent = "";
  box.style.fontSize = fontPx + "px";
  const blocks = formulas.map(function (f) {{
    const el = document.createElement("div");
    box.appendChild(el);
    try {{
      katex.render("\\\\displaystyle " + f, el, {{
        throwOnError: true, displayMode: false, trust: false, strict: "ignore",
        maxExpand: 1000, maxSize: maxSize, output: "html"
      }});
      return el;
    }} catch (e) {{
      box.removeChild(el);
      return String((e && e.message) || e).slice(0, 200);
    }}
  }});
  void box.offsetHeight;  // lay the page out now, so that any font it still needs is requested
  document.fonts.ready.then(function () {{
    done(blocks.map(function (el) {{
      if (typeof el === "string") return el;
      const r = el.getBoundingClientRect();
      return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
    }}));
  }});
}};
</script></body></html>
"""


@dataclass
class WebPage:
    """One formula's result: its pixels (grey, ink on white, its block with margins) or why not."""

    pixels: np.ndarray | None = None
    reason: str = ""


def check_browser() -> None:
    """Raise RenderError (one line, naming what to install) when KaTeX rendering cannot run here."""
    missing = [p for p in ("chromium", "chromedriver") if shutil.which(p) is None]
    if missing:
        raise RenderError(
            f"the katex rasterizer needs {' and '.join(missing)} (Debian: apt install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise RenderError("the katex rasterizer needs Selenium: pip install 'img2tex[web-render]'") from None
    if not (KATEX_DIR / "katex.min.js").exists():
        raise RenderError(f"KaTeX is missing from {KATEX_DIR} (a broken install)")


def _browser(width: int, height: int):  # -> selenium WebDriver (imported lazily: optional)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",  # containers run as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--allow-file-access-from-files",  # the page loads KaTeX's fonts from the package folder
        "--disable-extensions",
        "--disable-background-networking",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)


def render_page(
    formulas: list[str], font_px: float, max_side_px: int, max_pixels: int, timeout_s: float
) -> list[WebPage]:
    """Typeset `formulas` with KaTeX in one headless Chromium, `font_px` device pixels to the em;
    one WebPage per formula.

    Raises RenderError when the browser fails as a whole (it does not start, or the batch runs
    past `timeout_s`); a formula KaTeX rejects, or one over the size limits, only fails itself."""
    from selenium.common.exceptions import WebDriverException

    with tempfile.TemporaryDirectory(prefix="img2tex-katex-") as tmp:
        page = Path(tmp, "page.html")
        page.write_text(
            _PAGE.format(
                css=(KATEX_DIR / "katex.min.css").as_uri(), js=(KATEX_DIR / "katex.min.js").as_uri(), margin=MARGIN_EM
            ),
            encoding="utf-8",
        )
        try:
            driver = _browser(1600, 1200)
        except WebDriverException as exc:
            raise RenderError(f"chromium did not start ({_first_line(exc)})") from None
        try:
            driver.set_page_load_timeout(timeout_s)
            driver.set_script_timeout(timeout_s)
            driver.get(page.as_uri())
            if not driver.execute_async_script("window.img2texFonts(arguments[0]);"):
                raise RenderError("chromium: KaTeX's fonts did not load")
            boxes = driver.execute_async_script(
                "window.img2texRender(arguments[0], arguments[1], arguments[2], arguments[3]);",
                formulas,
                font_px,
                max_side_px / font_px,
            )
            return _cut(driver, boxes, max_side_px, max_pixels)
        except WebDriverException as exc:
            raise RenderError(f"chromium: {_first_line(exc)}") from None
        finally:
            driver.quit()


def _cut(driver, boxes: list, max_side_px: int, max_pixels: int) -> list[WebPage]:
    """Shoot the page in strips and cut each formula's block out of them."""
    out = [WebPage(reason=f"katex: {b}") if isinstance(b, str) else WebPage() for b in boxes]
    todo = []
    for k, b in enumerate(boxes):
        if isinstance(b, str):
            continue
        x, y, w, h = (float(v) for v in b)
        if max(w, h) > max_side_px or w * h > max_pixels:
            out[k].reason = f"page too large ({round(w)}x{round(h)} px); left out before rasterizing"
            continue
        todo.append((k, x, y, w, h))
    strip: list[tuple[int, float, float, float, float]] = []
    for item in todo + [None]:  # type: ignore[list-item]
        if strip and (item is None or item[2] + item[4] - strip[0][2] > STRIP_PX):
            top = min(s[2] for s in strip)
            bottom = max(s[2] + s[4] for s in strip)
            right = max(s[1] + s[3] for s in strip)
            shot = driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": top, "width": right, "height": bottom - top, "scale": 1},
                },
            )
            grey = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("L"))
            for k, x, y, w, h in strip:
                r0, c0 = int(round(y - top)), int(round(x))
                out[k].pixels = np.ascontiguousarray(grey[r0 : r0 + int(round(h)), c0 : c0 + int(round(w))])
            strip = []
        if item is not None:
            strip.append(item)
    return out


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "msg", None) or exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
