"""Render many LaTeX formulas to im2latex-style "processed" images, fast and safely.

Why it is built this way (measured, see the project's rendering notes):
- LaTeX start-up costs ~0.1 s, so one run per formula is ~13 formulas/s. Instead one `latex`
  run typesets a whole batch, one page per formula (preview package), and one `dvipng -T tight`
  call converts the batch: thousands of formulas/s on two cores.
- A broken formula must not cost its neighbours: each formula is bracketed by `\\typeout`
  markers carrying a per-run random nonce (so a formula cannot forge them); a formula is good
  when both markers appear, no error line lies between them and exactly one page was shipped.
  A runaway argument swallows the rest of the batch; those formulas are queued again.
- Batches share TeX state and TeX can read/write files, so formulas using file, definition,
  catcode or output primitives are refused *before* TeX sees them, and TeX runs with shell
  escape off, paranoid file access and no font generation, in a private temp folder.
- Output matches im2latex's processed look: render at 200 dpi, crop, pad 8 px, halve.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from img2tex.errors import FormulaError, ImageError, RenderError
from img2tex.fileio import atomic_write_bytes, atomic_write_text
from img2tex.images import ImageConfig, crop_to_content, ink_on_white, preprocess

#: Called with the number of formulas just finished (rendered, skipped or failed).
Progress = Callable[[int], None]
#: Takes a rasterized page (grey, at render resolution) and its formula's name, and keeps its
#: processed image (a file for `render_formulas`, memory for `typeset_arrays`); False: no ink.
Keep = Callable[[np.ndarray, str], bool]

APT_PACKAGES = "texlive-latex-base preview-latex-style dvipng"

#: rasterizer -> (TeX engine, its output, the programs it needs, their Debian packages).
#: dvipng draws DVI glyphs from the fonts' bitmaps (thin strokes); Ghostscript and poppler's
#: pdftoppm draw pdflatex's Type 1 outlines, each with its own anti-aliasing (bolder strokes, as
#: the original im2latex-100k images, which went through Ghostscript).
RASTERIZERS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "dvipng": ("latex", "dvi", ("latex", "dvipng"), APT_PACKAGES),
    "gs": ("pdflatex", "pdf", ("pdflatex", "gs"), "texlive-latex-base preview-latex-style ghostscript"),
    "pdftoppm": ("pdflatex", "pdf", ("pdflatex", "pdftoppm"), "texlive-latex-base preview-latex-style poppler-utils"),
    # No TeX: KaTeX (shipped in the package) in headless Chromium, the look of web pages; see webrender.
    "katex": ("katex", "html", ("chromium", "chromedriver"), "chromium chromium-driver"),
}

#: font name -> (preamble line, a file that must exist for the font to work, the Debian package
#: that has it). texlive-fonts-extra (509 MB) is for training renders, not needed to predict or test.
FONTS: dict[str, tuple[str, str, str]] = {
    "cm": ("", "cmr10.tfm", "texlive-latex-base"),
    "lmodern": ("\\usepackage{lmodern}", "rm-lmr10.tfm", "lmodern"),
    "times": ("\\usepackage{mathptmx}", "ptmr7t.tfm", "texlive-fonts-recommended"),
    "palatino": ("\\usepackage{mathpazo}", "pplr7t.tfm", "texlive-fonts-recommended"),
    "txfonts": ("\\usepackage{txfonts}", "txmi.tfm", "texlive-fonts-recommended"),  # Times-like text and math
    "pxfonts": ("\\usepackage{pxfonts}", "pxmi.tfm", "texlive-fonts-recommended"),  # Palatino-like text and math
    "fourier": ("\\usepackage{fourier}", "futmi.tfm", "texlive-fonts-extra"),  # Utopia text and math
    "kpfonts": ("\\usepackage{kpfonts}", "jkpmi.tfm", "texlive-fonts-extra"),  # Kp-Fonts (Johannes Kepler), serif
    "cmbright": ("\\usepackage{cmbright}", "cmbrmi10.tfm", "texlive-fonts-extra"),  # sans-serif math
}


@dataclass
class RenderConfig:
    """How formulas become images. Defaults reproduce im2latex-100k's processed images."""

    dpi: int = 200  # render resolution; the processed look is 200 dpi, cropped, padded, halved
    font: str = "cm"  # one of FONTS
    rasterizer: str = "dvipng"  # one of RASTERIZERS
    pad: int = 8  # white border (px at render resolution) added after cropping
    downsample: int = 2  # integer shrink factor after padding (im2latex: 2)
    batch_size: int = 500  # formulas per latex run
    jobs: int = 0  # parallel latex processes; 0 = all cores
    timeout_s: float = 30.0  # cap per TeX or rasterizer run (see batch_timeout); a hung batch is split and retried
    write_packed: bool = False  # also write OUT/packed (see img2tex.data.packed)
    retry_failed: bool = False  # on a rerun, try again the formulas TeX rejected last time
    # Seeded augmentation for training data; all off by default. Each draw depends only on
    # (seed, image name), so the same image comes out whatever the batching or job count.
    seed: int = 0
    dpi_jitter: float = 0.0  # scale by a factor uniform in [1-j, 1+j] (as if dpi had varied)
    extra_pad: int = 0  # up to this many more white px (final resolution) on each side
    blur: float = 0.0  # Gaussian blur with sigma uniform in [0, blur]
    noise: float = 0.0  # Gaussian pixel noise with std uniform in [0, noise] (grey levels)
    jpeg_quality: int = 0  # 0 = off; else JPEG round trip at quality uniform in [q, 95]
    # The look of other pipelines (drawn from a second generator, so that the draws above give
    # the same images as before these existed):
    gamma: float = 0.0  # anti-aliased ink raised to a power e^u, u uniform in [-g, g] (paler or darker edges)
    stroke: float = 0.0  # thicken strokes by up to this many px per side at render resolution, or thin by half that
    colour: float = 0.0  # probability of coloured or light-on-dark (dark mode) text on a plain or shaded background
    rescale: bool = False  # read the result back through predict's glyph-size rescale (for renders at other dpi)
    # Per-formula page limits at render resolution, checked by TeX before a page is shipped, so
    # neither the rasterizer nor Pillow ever sees a giant page (\rule{500cm}{500cm}).
    max_side_px: int = 5000
    max_pixels: int = 8_000_000

    def validate(self) -> None:
        """Raise RenderError on settings that cannot work, before any work starts."""
        if self.font not in FONTS:
            raise RenderError(f"unknown font {self.font!r}; choose one of {', '.join(FONTS)}")
        if self.rasterizer not in RASTERIZERS:
            raise RenderError(f"unknown rasterizer {self.rasterizer!r}; choose one of {', '.join(RASTERIZERS)}")
        if self.rasterizer == "katex" and self.font != "cm":
            raise RenderError("the katex rasterizer draws in KaTeX's own fonts (Computer Modern's look): use font cm")
        checks = [
            (50 <= self.dpi <= 2000, "dpi must be in 50..2000"),
            (0 <= self.pad <= 200, "pad must be in 0..200"),
            (1 <= self.downsample <= 8, "downsample must be in 1..8"),
            (1 <= self.batch_size <= 5000, "batch_size must be in 1..5000"),
            (self.jobs >= 0, "jobs must be >= 0"),
            (0.0 <= self.dpi_jitter < 0.9, "dpi_jitter must be in [0, 0.9)"),
            (0 <= self.extra_pad <= 200, "extra_pad must be in 0..200"),
            (0.0 <= self.blur <= 5.0, "blur must be in [0, 5]"),
            (0.0 <= self.noise <= 128.0, "noise must be in [0, 128]"),
            (self.jpeg_quality == 0 or 5 <= self.jpeg_quality <= 95, "jpeg_quality must be 0 or 5..95"),
            (0.0 <= self.gamma <= 1.5, "gamma must be in [0, 1.5]"),
            (0.0 <= self.stroke <= 3.0, "stroke must be in [0, 3]"),
            (0.0 <= self.colour <= 1.0, "colour must be in [0, 1]"),
            (16 <= self.max_side_px <= 20000, "max_side_px must be in 16..20000"),
            (256 <= self.max_pixels <= 50_000_000, "max_pixels must be in 256..50,000,000"),
        ]
        for ok, message in checks:
            if not ok:
                raise RenderError(message)

    def image_settings(self) -> dict[str, object]:
        """The settings that change pixels: a rerun into the same folder must use the same."""
        d = asdict(self)
        for k in ("batch_size", "jobs", "timeout_s", "write_packed", "retry_failed", "max_side_px", "max_pixels"):
            d.pop(k)
        return d


@dataclass
class RenderReport:
    """What a render run did; saved as OUT/render_report.json."""

    total: int = 0
    rendered: int = 0  # newly rendered in this run
    skipped_existing: int = 0  # already in OUT/images_processed (resumed run)
    failed: list[dict[str, object]] = field(default_factory=list)  # {index, name, formula, reason}
    latex_runs: int = 0
    seconds: float = 0.0
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.rendered + self.skipped_existing

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "ok": self.ok,
            "rendered": self.rendered,
            "skipped_existing": self.skipped_existing,
            "failed_count": len(self.failed),
            "latex_runs": self.latex_runs,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
            "failed": self.failed,
        }


# ---------------------------------------------------------------------------------------------
# Safety screen

# Control words refused outright: file and terminal I/O, definitions and global state changes,
# job control, output routine, loops, primitives that read files (pdfTeX \pdf...).
_REFUSED_WORDS = frozenset(
    """
input endinput include includeonly InputIfFileExists IfFileExists openin openout closein closeout
read readline write immediate message typeout wlog errmessage errhelp show showthe showbox showlists
showtokens showgroups showifs special shipout output def edef gdef xdef let futurelet global long
outer protected catcode lccode uccode sfcode mathcode delcode chardef mathchardef countdef dimendef
skipdef muskipdef toksdef font newcommand renewcommand providecommand DeclareRobustCommand
DeclareMathOperator newenvironment renewenvironment newcounter setcounter addtocounter stepcounter
newlength setlength newtoks newwrite newread newbox csname endcsname expandafter scantokens
makeatletter makeatother documentclass usepackage RequirePackage begingroup endgroup batchmode
nonstopmode scrollmode errorstopmode dump end stop loop repeat everypar everymath everydisplay
everyhbox everyvbox everyjob everycr everyeof afterassignment aftergroup jobname endlinechar
newlinechar escapechar primitive directlua
""".split()
)
_REFUSED_PREFIXES = ("pdf", "write", "open", "input", "include")
_REFUSED_ENVS = frozenset({"document", "filecontents", "filecontents*", "preview", "verbatim", "verbatim*", "comment"})
_CONTROL_WORD = re.compile(r"\\([A-Za-z@]+)")
_ENV = re.compile(r"\\(?:begin|end)\s*\{([^{}]*)\}")


def unsafe_reason(formula: str) -> str | None:
    """Why `formula` must not reach TeX (None when it may).

    The screen works on TeX's own view of control words, so `\\write18`, `\\immediate\\write`
    and `\\input{...}` are caught however they are spaced; `^^` escapes (which can spell any
    control word) and unescaped `$` (leaving math mode) are refused too.
    """
    if "^^" in formula:
        return "refused: ^^ character escapes"
    if re.search(r"(?<!\\)(?:\\\\)*\$", formula):
        return "refused: unescaped $"
    if "\x00" in formula or "\x1b" in formula:
        return "refused: control characters"
    for env in _ENV.findall(formula):
        if env.strip() in _REFUSED_ENVS:
            return f"refused: environment {env.strip()}"
    for word in _CONTROL_WORD.findall(formula):
        if "@" in word:
            return f"refused: \\{word} (internal macro)"
        if word in _REFUSED_WORDS or word.lower().startswith(_REFUSED_PREFIXES):
            if word == "end":
                continue  # \end{...} of an environment; \end alone is caught below
            return f"refused: \\{word}"
    if re.search(r"\\end(?![A-Za-z@])(?!\s*\{)", formula):
        return "refused: \\end"
    return None


# ---------------------------------------------------------------------------------------------
# Tool checks and TeX environment


def check_tools(font: str = "cm", rasterizer: str = "dvipng") -> None:
    """Raise RenderError (one line, naming apt packages) when TeX, the rasterizer or the font is missing."""
    if rasterizer == "katex":
        from img2tex.rendering.katex import check_browser

        check_browser()
        return
    _, _, programs, packages = RASTERIZERS.get(rasterizer, RASTERIZERS["dvipng"])
    missing = [t for t in (*programs, "kpsewhich") if shutil.which(t) is None]
    if missing:
        install = f"apt-get install --no-install-recommends {packages}"
        raise RenderError(f"{', '.join(missing)} not found; install: {install}")
    needed = ["preview.sty", "amsmath.sty", FONTS[font][1]] if font in FONTS else ["preview.sty"]
    if font == "lmodern":
        needed.append("lmodern.sty")
    for f in needed:
        if not _kpse_has(f):
            pkg = "preview-latex-style" if f == "preview.sty" else (FONTS[font][2] if font in FONTS else APT_PACKAGES)
            raise RenderError(f"TeX file {f} not found; install: apt-get install --no-install-recommends {pkg}")


def font_available(font: str, rasterizer: str = "dvipng") -> bool:
    """True when `font` can be rendered here with `rasterizer` (tests use it to skip early)."""
    try:
        check_tools(font, rasterizer)
    except RenderError:
        return False
    return True


def _kpse_has(name: str) -> bool:
    r = subprocess.run(["kpsewhich", name], capture_output=True, text=True, env=_tex_env(), check=False)
    return r.returncode == 0 and bool(r.stdout.strip())


def _tex_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "openin_any": "p",
            "openout_any": "p",
            "shell_escape": "f",
            "max_print_line": "100000",
            "error_line": "254",
            "half_error_line": "238",
            # Never run METAFONT for a missing font: it is slow and its failure is what we report.
            "MKTEXTFM": "0",
            "MKTEXPK": "0",
            "MKTEXMF": "0",
            "MKTEXTEX": "0",
        }
    )
    return env


# ---------------------------------------------------------------------------------------------
# One batch: latex + dvipng + post-processing (runs in a worker thread: the heavy parts are the
# latex/dvipng processes and Pillow/numpy calls, which release the GIL; threads also avoid the
# __main__-guard trap of spawned processes for library users)


@dataclass
class _Job:
    indices: list[int]
    names: list[str]
    formulas: list[str]


@dataclass
class _JobResult:
    done: list[int]  # indices rendered
    failed: list[tuple[int, str]]  # (index, reason)
    requeue: list[int]  # indices whose turn never came (runaway argument earlier in the batch)
    latex_runs: int = 1


#: TeX points per inch.
PT_PER_INCH = 72.27
#: Type size of every render (im2latex's): the TeX document class option, and KaTeX's em.
FONT_SIZE_PT = 12


def page_limits_pt(cfg: RenderConfig) -> tuple[int, int]:
    """cfg's page limits in TeX points at its dpi: (largest side, largest area in pt^2)."""
    pt_per_px = PT_PER_INCH / cfg.dpi
    return int(cfg.max_side_px * pt_per_px), int(cfg.max_pixels * pt_per_px * pt_per_px)


def _document(formulas: Sequence[str], preamble: str, nonce: str, limits: tuple[int, int] = (16000, 10**9)) -> str:
    side, area = limits
    parts = [
        f"\\documentclass[{FONT_SIZE_PT}pt]{{article}}",  # im2latex rendered at 12pt
        "\\usepackage{amsmath,amssymb,bm}",
        preamble,
        "\\usepackage[active,tightpage]{preview}",
        "\\pagestyle{empty}",
        "\\begin{document}",
    ]
    for k, f in enumerate(formulas):
        body = re.sub(r"\n\s*\n", "\n", f.replace("\r", "\n")).strip("\n")
        parts.append(f"\\typeout{{IMG2TEX-{nonce}-B {k}}}")
        # Own lines around the formula so a trailing % comment cannot eat the closing brackets.
        # The formula is boxed and measured first; a page over the limits is never shipped
        # (the S line gives its size, the L line says it was left out).
        parts.append(f"\\setbox0\\hbox{{\\mbox{{$\\displaystyle\n{body}\n$}}}}%")
        parts.append(f"\\typeout{{IMG2TEX-{nonce}-S {k} \\the\\wd0 \\space\\the\\dimexpr\\ht0+\\dp0\\relax}}%")
        parts.append(
            f"\\ifdim\\wd0>{side}pt\\relax\\typeout{{IMG2TEX-{nonce}-L {k}}}%\n"
            f"\\else\\ifdim\\dimexpr\\ht0+\\dp0\\relax>{side}pt\\relax\\typeout{{IMG2TEX-{nonce}-L {k}}}%\n"
            f"\\else\\ifnum\\numexpr(\\wd0/65536)*((\\ht0+\\dp0)/65536)\\relax>{area}\\relax"
            f"\\typeout{{IMG2TEX-{nonce}-L {k}}}%\n"
            f"\\else\\begin{{preview}}\\mbox{{\\box0}}\\end{{preview}}\\fi\\fi\\fi"
        )
        parts.append(f"\\typeout{{IMG2TEX-{nonce}-E {k}}}")
    parts.append("\\end{document}")
    return "\n".join(parts) + "\n"


def _parse_log(
    log: str, n: int, nonce: str, engine: str = "latex", dpi: int = 200
) -> tuple[dict[int, int], dict[int, str], list[int]]:
    """-> (formula k -> page, k -> failure reason (prefixed with `engine`), ks never started)."""
    sizes = {
        int(m.group(1)): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(rf"^IMG2TEX-{nonce}-S (\d+) (-?[\d.]+)pt\s*(-?[\d.]+)pt$", log, re.M)
    }
    too_large = {int(m.group(1)) for m in re.finditer(rf"^IMG2TEX-{nonce}-L (\d+)$", log, re.M)}
    pages: dict[int, int] = {}
    failed: dict[int, str] = {}
    # pdflatex writes its font map file name into the first page's mark: [1{.../pdftex.map}]
    page_re = re.compile(r"\[(\d+)(?:\{[^{}\[\]]*\})*\]")
    marker = re.compile(rf"^IMG2TEX-{nonce}-([BE]) (\d+)$", re.M)
    marks = list(marker.finditer(log))
    begins = {int(m.group(2)): m for m in marks if m.group(1) == "B"}
    ends = {int(m.group(2)): m for m in marks if m.group(1) == "E"}
    started: set[int] = set()
    for k in range(n):
        b = begins.get(k)
        if b is None:
            continue
        started.add(k)
        e = ends.get(k)
        stop = e.start() if e is not None else len(log)
        chunk = log[b.end() : stop]
        shipped = [int(p) for p in page_re.findall(chunk)]
        err = re.search(r"^! (.*)$", chunk, re.M)
        if err:
            failed[k] = f"{engine}: " + err.group(1).strip()[:200]
        elif k in too_large:
            w, h = (round(v * dpi / PT_PER_INCH) for v in sizes.get(k, (0.0, 0.0)))
            failed[k] = f"page too large ({w}x{h} px at {dpi} dpi); left out before rasterizing"
        elif e is None:
            failed[k] = f"{engine}: run ended inside this formula"
        elif len(shipped) != 1:
            failed[k] = f"{engine}: {len(shipped)} pages for one formula"
        else:
            pages[k] = shipped[0]
    never = [k for k in range(n) if k not in started]
    return pages, failed, never


def _run_quietly(cmd: list[str], cwd: str, env: dict[str, str], timeout: float) -> None:
    """Run a TeX tool with no input and its output discarded (the log file says what happened);
    subprocess.TimeoutExpired when it runs past `timeout` seconds."""
    subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def _rasterize(cfg: RenderConfig, tmp: str, env: dict[str, str], n: int) -> dict[int, Path]:
    """Draw every page of the batch's DVI or PDF as a grey PNG -> {page number: file}.

    A timeout leaves pages without a file; the caller reports them."""
    if cfg.rasterizer == "dvipng":
        cmd = ["dvipng", "-q", "-T", "tight", "-D", str(cfg.dpi), "-bg", "rgb 1 1 1", "-fg", "rgb 0 0 0"]
        cmd += ["-z", "1", "-o", str(Path(tmp, "p%06d.png")), str(Path(tmp, "batch.dvi"))]
    elif cfg.rasterizer == "gs":
        # -dSAFER: the PDF is ours, but Ghostscript should never touch files on its own anyway.
        cmd = ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", f"-r{cfg.dpi}"]
        cmd += ["-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", f"-sOutputFile={Path(tmp, 'p%06d.png')}"]
        cmd += [str(Path(tmp, "batch.pdf"))]
    else:
        cmd = ["pdftoppm", "-gray", "-png", "-r", str(cfg.dpi), str(Path(tmp, "batch.pdf")), str(Path(tmp, "q"))]
    with contextlib.suppress(subprocess.TimeoutExpired):
        _run_quietly(cmd, tmp, env, batch_timeout(cfg, n))
    pages: dict[int, Path] = {}
    for png in Path(tmp).glob("[pq]*.png"):
        digits = png.stem.lstrip("pq-")  # p000012 (dvipng, gs) or q-012 (pdftoppm pads to the page count)
        if digits.isdigit():
            pages[int(digits)] = png
    return pages


def batch_timeout(cfg: RenderConfig, n: int) -> float:
    """Seconds one TeX or rasterizer run on `n` formulas may take: 5 s plus 20 ms a formula, at most
    `cfg.timeout_s`. A healthy batch of 500 takes 1-2 s, so this is ample; but a formula that makes
    TeX loop costs a timeout at every halving of its batch, and short timeouts for small batches
    make that ~1 minute instead of ~5 (measured on a looping array row in the hep-th formulas)."""
    return min(cfg.timeout_s, 5.0 + 0.02 * n)


def _render_web_job(job: _Job, keep: Keep, cfg: RenderConfig) -> _JobResult:
    """`_render_job` for the katex rasterizer: one headless browser typesets the batch."""
    from img2tex.rendering.katex import render_page

    try:
        em = FONT_SIZE_PT * cfg.dpi / PT_PER_INCH  # the em of _document's type, in device pixels
        pages = render_page(job.formulas, em, cfg.max_side_px, cfg.max_pixels, batch_timeout(cfg, len(job.indices)))
    except RenderError as exc:
        if len(job.indices) == 1:
            return _JobResult([], [(job.indices[0], str(exc))], [])
        return _JobResult([], [], list(job.indices))  # the caller splits the batch and retries
    done: list[int] = []
    fails: list[tuple[int, str]] = []
    for k, page in enumerate(pages):
        idx = job.indices[k]
        if page.pixels is None or not keep(page.pixels, job.names[k]):
            fails.append((idx, page.reason or "empty image"))
            continue
        done.append(idx)
    return _JobResult(done, fails, [])


def _save_page(raw: np.ndarray, cfg: RenderConfig, out_images: str, name: str) -> bool:
    """Post-process a rasterized page and write it as out_images/name.png; False when it holds no ink."""
    img = postprocess(raw, cfg, name)
    if img is None:
        return False
    atomic_write_bytes(Path(out_images, f"{name}.png"), encode_png(img))
    return True


def _render_job(job: _Job, keep: Keep, cfg: RenderConfig) -> _JobResult:
    """Typeset one batch and `keep` its good pages. Never raises for a bad formula."""
    if cfg.rasterizer == "katex":
        return _render_web_job(job, keep, cfg)
    nonce = secrets.token_hex(6)
    preamble = FONTS[cfg.font][0]
    engine, output, _, _ = RASTERIZERS[cfg.rasterizer]
    env = _tex_env()
    with tempfile.TemporaryDirectory(prefix="img2tex-render-") as tmp:
        tex = Path(tmp, "batch.tex")
        tex.write_text(_document(job.formulas, preamble, nonce, page_limits_pt(cfg)), encoding="utf-8")
        cmd = [engine, "-no-shell-escape", "-interaction=nonstopmode", "-output-directory", tmp, "batch.tex"]
        try:
            _run_quietly(cmd, tmp, env, batch_timeout(cfg, len(job.indices)))
        except subprocess.TimeoutExpired:
            if len(job.indices) == 1:
                return _JobResult([], [(job.indices[0], f"{engine}: timed out")], [])
            return _JobResult([], [], list(job.indices))  # caller splits and retries
        log_path = Path(tmp, "batch.log")
        if not log_path.exists():
            return _JobResult([], [(i, f"{engine}: no log written") for i in job.indices], [])
        log = log_path.read_text(encoding="latin-1")
        pages, failed, never = _parse_log(log, len(job.indices), nonce, engine, cfg.dpi)
        done: list[int] = []
        fails = [(job.indices[k], r) for k, r in failed.items()]
        requeue = [job.indices[k] for k in never]
        if pages and not Path(tmp, f"batch.{output}").exists():
            if engine == "pdflatex" and fails:
                # pdflatex loses the whole PDF after a fatal error (a runaway argument), unlike
                # latex's DVI; the culprit is failed above, so the good ones go round again.
                return _JobResult([], fails, requeue + [job.indices[k] for k in pages])
            if not fails and len(job.indices) > 1:
                # No formula is to blame in the log (a fatal error after the last page, seen
                # once in 85k formulas under load): the caller splits the batch and retries.
                return _JobResult([], [], list(job.indices))
            last = re.findall(r"^! (.*)$", log, re.M)
            why = f"{engine}: no page written" + (f" ({last[-1].strip()[:150]})" if last else "")
            fails.extend((job.indices[k], why) for k in pages)
            return _JobResult([], fails, requeue)
        files = _rasterize(cfg, tmp, env, len(pages)) if pages else {}
        for k, page in sorted(pages.items()):
            idx = job.indices[k]
            png = files.get(page)
            if png is None:
                fails.append((idx, f"{cfg.rasterizer}: no image for this page"))
                continue
            try:  # a page within TeX's limits is far below Pillow's; this is the last guard
                page_pixels = np.asarray(Image.open(png).convert("L"))
            except (Image.DecompressionBombError, OSError, ValueError) as exc:
                fails.append((idx, f"{cfg.rasterizer}: unreadable page ({type(exc).__name__})"))
                continue
            if not keep(page_pixels, job.names[k]):
                fails.append((idx, "empty image"))
                continue
            done.append(idx)
        return _JobResult(done, fails, requeue)


# ---------------------------------------------------------------------------------------------
# Pixels


def encode_png(img: np.ndarray) -> bytes:
    """Grayscale PNG bytes of a uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def postprocess(raw: np.ndarray, cfg: RenderConfig, name: str = "") -> np.ndarray | None:
    """Rasterizer page -> processed look: crop to ink, pad, shrink, then optional augmentation.

    Returns None for a page without ink. Augmentation draws from generators seeded by
    (cfg.seed, name), so results do not depend on batching or process scheduling. Stroke weight
    and gamma change the page at render resolution, where a pixel is a fraction of a stroke.
    """
    look = random.Random(f"{cfg.seed}:{name}:look") if (cfg.gamma or cfg.stroke or cfg.colour) else None
    if look is not None and cfg.gamma:
        raw = ink_gamma(raw, math.exp(look.uniform(-cfg.gamma, cfg.gamma)))
    if look is not None and cfg.stroke:
        raw = adjust_stroke(raw, look.uniform(-cfg.stroke / 2, cfg.stroke))
    try:
        a = crop_to_content(raw, level=255)
    except ImageError:
        return None
    a = np.pad(a, cfg.pad, constant_values=255)
    augment = cfg.dpi_jitter or cfg.extra_pad or cfg.blur or cfg.noise or cfg.jpeg_quality
    rng = random.Random(f"{cfg.seed}:{name}") if augment else None
    scale = 1.0 / cfg.downsample
    if rng is not None and cfg.dpi_jitter:
        scale *= rng.uniform(1 - cfg.dpi_jitter, 1 + cfg.dpi_jitter)
    im = Image.fromarray(a, mode="L")
    if scale != 1.0:
        w, h = max(1, round(a.shape[1] * scale)), max(1, round(a.shape[0] * scale))
        im = im.resize((w, h), Image.Resampling.LANCZOS)
    out = np.asarray(im)
    if rng is not None:
        if cfg.blur:
            out = np.asarray(Image.fromarray(out, mode="L").filter(ImageFilter.GaussianBlur(rng.uniform(0, cfg.blur))))
        if cfg.extra_pad:
            top, bottom, left, right = (rng.randint(0, cfg.extra_pad) for _ in range(4))
            out = np.pad(out, ((top, bottom), (left, right)), constant_values=255)
    pixels: np.ndarray = out
    if look is not None and cfg.colour and look.random() < cfg.colour:
        pixels = colourize(out, look)  # (H, W, 3): noise and JPEG below act on the colours
    if rng is not None:
        if cfg.noise:
            nrng = np.random.default_rng(rng.getrandbits(63))
            sigma = rng.uniform(0, cfg.noise)
            pixels = np.clip(pixels.astype(np.float32) + nrng.normal(0, sigma, pixels.shape), 0, 255).astype(np.uint8)
        if cfg.jpeg_quality:
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="JPEG", quality=rng.randint(cfg.jpeg_quality, 95))
            pixels = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    out = ink_on_white(Image.fromarray(pixels)) if pixels.ndim == 3 else pixels
    if cfg.rescale:
        try:
            out = preprocess(out, ImageConfig())
        except ImageError:
            return None
    return np.ascontiguousarray(out)


def ink_gamma(a: np.ndarray, power: float) -> np.ndarray:
    """Ink (1 - a/255) raised to `power`: > 1 pales anti-aliased edges (thinner-looking strokes,
    like im2latex's "ink squared"), < 1 darkens them (bolder)."""
    ink = 1.0 - a.astype(np.float32) / 255.0
    return np.clip(np.rint(255.0 * (1.0 - ink**power)), 0, 255).astype(np.uint8)


def adjust_stroke(a: np.ndarray, width: float) -> np.ndarray:
    """Thicken (width > 0) or thin (< 0) dark strokes by about |width| px on each side.

    Whole pixels come from 3x3 min (thicken) or max (thin) filters, the fraction from blending
    with one more. The result is padded by int(|width|) + 1 px on each side (white), so strokes at
    the page's edge grow too; callers crop to the ink afterwards.
    """
    if width == 0:
        return a
    steps, frac = divmod(abs(width), 1.0)
    m = int(steps) + 1
    im = Image.fromarray(np.pad(a, m, constant_values=255), mode="L")
    filt = ImageFilter.MinFilter(3) if width > 0 else ImageFilter.MaxFilter(3)
    for _ in range(int(steps)):
        im = im.filter(filt)
    if frac > 0:
        im = Image.blend(im, im.filter(filt), frac)
    return np.asarray(im)


def colourize(a: np.ndarray, rng: random.Random) -> np.ndarray:
    """Grey ink-on-white -> RGB text in a random colour scheme: light ink on a dark background
    (dark mode) a third of the time, else dark coloured ink on a light tinted background; half of
    them on a smoothly shaded background (uneven lighting, tinted paper)."""
    h, w = a.shape
    if rng.random() < 1 / 3:
        bg = np.array([rng.randint(0, 60) for _ in range(3)], np.float32)
        fg = np.array([rng.randint(180, 255) for _ in range(3)], np.float32)
    else:
        bg = np.array([rng.randint(190, 255) for _ in range(3)], np.float32)
        fg = np.array([rng.randint(0, 100) for _ in range(3)], np.float32)
    background = np.broadcast_to(bg, (h, w, 3)).astype(np.float32)
    if rng.random() < 0.5:
        grid = np.random.default_rng(rng.getrandbits(63)).uniform(-1, 1, (3, 4)).astype(np.float32)
        shade = np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC))
        background = background + rng.uniform(5, 25) * shade[:, :, None]
    alpha = (1.0 - a.astype(np.float32) / 255.0)[:, :, None]
    rgb = background * (1.0 - alpha) + fg * alpha
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Driver


def default_name(formula: str) -> str:
    """Stable image name for a formula: the same formula gets the same file on every rerun."""
    return hashlib.sha1(formula.encode("utf-8")).hexdigest()[:20]


_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def _previous_failures(report_path: Path, settings: dict[str, object], images: Path) -> dict[str, tuple[str, str]]:
    """Image name -> (formula, reason) for what TeX rejected in the run that left `report_path`.

    TeX is deterministic, so a rerun (to resume, or only to re-pack) need not feed the same
    formulas to it again: on a large training set that is thousands of formulas and minutes.
    Timeouts depend on the machine's load and are tried again. Raises RenderError when the folder
    was rendered with other settings, since mixing them would silently mix two looks.
    """
    if not report_path.exists():
        return {}
    try:
        previous = json.loads(report_path.read_text(encoding="utf-8"))
        old_settings, failed = previous.get("settings"), previous.get("failed", [])
    except (OSError, ValueError, AttributeError):
        return {}
    if isinstance(old_settings, dict):
        # Settings added since that run were at their defaults (the look they add was not there).
        old_settings = {**RenderConfig().image_settings(), **old_settings}
    if old_settings is not None and old_settings != settings and any(images.iterdir()):
        raise RenderError(f"{report_path.parent} was rendered with other settings ({old_settings}); use a new folder")
    if old_settings != settings or not isinstance(failed, list):
        return {}
    known: dict[str, tuple[str, str]] = {}
    for d in failed:
        if not isinstance(d, dict):
            continue
        name, formula, reason = d.get("name"), d.get("formula"), d.get("reason")
        if (
            isinstance(name, str)
            and isinstance(formula, str)
            and isinstance(reason, str)
            and (reason.startswith(("latex:", "katex:")) or reason == "empty image")
            and "timed out" not in reason
        ):
            known[name] = (formula, reason)
    return known


def _run_jobs(
    todo: list[int], names: Sequence[str], sources: Sequence[str], keep: Keep, cfg: RenderConfig, tick: Progress
) -> tuple[set[int], dict[int, str], int]:
    """Typeset the formulas `todo` (indices into `names` and `sources`) in batches of
    `cfg.batch_size` on `cfg.jobs` threads, `keep`ing each good page -> (indices kept, {index:
    why it failed}, LaTeX runs). A batch TeX never finishes is split in two and tried again; the
    formulas after a runaway argument go round again."""
    failed: dict[int, str] = {}
    done: set[int] = set()
    runs = 0
    jobs = cfg.jobs or os.cpu_count() or 1
    queue = [todo[k : k + cfg.batch_size] for k in range(0, len(todo), cfg.batch_size)]
    # Small inputs: use smaller batches so every core gets work.
    if todo and len(queue) < jobs:
        size = max(1, -(-len(todo) // jobs))
        queue = [todo[k : k + size] for k in range(0, len(todo), size)]

    def make_job(idx: list[int]) -> _Job:
        return _Job(idx, [names[i] for i in idx], [sources[i] for i in idx])

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running: dict[Future[_JobResult], list[int]] = {}
        while queue or running:
            while queue and len(running) < jobs * 2:
                idx = queue.pop(0)
                running[pool.submit(_render_job, make_job(idx), keep, cfg)] = idx
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                idx = running.pop(fut)
                res = fut.result()
                runs += res.latex_runs
                done.update(res.done)
                for i, why in res.failed:
                    failed[i] = why
                tick(len(res.done) + len(res.failed))
                if res.requeue:
                    if not res.done and not res.failed and len(res.requeue) == len(idx) > 1:
                        half = len(idx) // 2  # a timed-out batch: split it
                        queue[:0] = [idx[:half], idx[half:]]
                    else:
                        queue.insert(0, res.requeue)
    return done, failed, runs


def typeset_arrays(latex: Sequence[str], cfg: RenderConfig | None = None) -> list[np.ndarray | None]:
    """Typeset LaTeX formulas (as written: not normalized) and return each one's processed image
    (what `render_formulas` would write, as a grey uint8 array), or None where it did not
    typeset, holds no ink or is refused (`unsafe_reason`). Nothing is written but TeX's scratch
    files. Raises RenderError when the tools are missing or the settings cannot work.

    Why: the verifier typesets thousands of candidates only to compare them with the input;
    normalizing each label and a PNG written, read back and deleted per candidate cost it about
    a fifth of its time (a profile of `predict --verify` on 128 test renders)."""
    cfg = cfg or RenderConfig()
    cfg.validate()
    check_tools(cfg.font, cfg.rasterizer)
    names = [f"f{i:06d}" for i in range(len(latex))]
    todo = [i for i, f in enumerate(latex) if f.strip() and unsafe_reason(f) is None]
    images: dict[int, np.ndarray] = {}

    def keep(raw: np.ndarray, name: str) -> bool:
        img = postprocess(raw, cfg, name)
        if img is not None:
            images[int(name[1:])] = img  # one key per thread's own formula: no lock needed
        return img is not None

    _run_jobs(todo, names, latex, keep, cfg, lambda n: None)
    return [images.get(i) for i in range(len(latex))]


def render_formulas(
    formulas: list[str],
    out_dir: str | os.PathLike[str],
    cfg: RenderConfig | None = None,
    names: list[str] | None = None,
    split: str = "train",
    progress: Progress | None = None,
) -> RenderReport:
    """Render `formulas` into the processed im2latex layout under `out_dir`.

    Writes OUT/images_processed/<name>.png, OUT/formulas.norm.lst (line i = normalized label of
    formula i; empty for a formula that was rejected), OUT/<split>_filter.lst ("name.png i" for each
    rendered formula) and OUT/render_report.json; with cfg.write_packed also OUT/packed/.
    Images already present are kept (a rerun resumes). Bad formulas are skipped and reported.
    Raises RenderError when the tools are missing or the settings cannot work.
    """
    import time

    from img2tex.tokenizer import normalize, to_latex  # lazy: keeps `import img2tex.rendering.renderer` light

    cfg = cfg or RenderConfig()
    cfg.validate()
    check_tools(cfg.font, cfg.rasterizer)
    if names is None:
        names = [default_name(f) for f in formulas]
    if len(names) != len(formulas):
        raise RenderError(f"{len(names)} names for {len(formulas)} formulas")
    for n in names:
        if not _NAME_OK.match(n):
            raise RenderError(f"bad image name {n!r}: use letters, digits, '.', '_' or '-'")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,50}", split):
        raise RenderError(f"bad split name {split!r}")
    out = Path(out_dir)
    images = out / "images_processed"
    images.mkdir(parents=True, exist_ok=True)
    settings = cfg.image_settings()
    report_path = out / "render_report.json"
    known_failures = _previous_failures(report_path, settings, images)
    if cfg.retry_failed:
        known_failures = {}

    t0 = time.perf_counter()
    report = RenderReport(total=len(formulas), settings=settings)
    labels: list[str] = [""] * len(formulas)
    todo: list[int] = []
    seen_names: dict[str, int] = {}
    tick = progress or (lambda n: None)
    for i, f in enumerate(formulas):
        try:
            labels[i] = normalize(f)
        except FormulaError as e:
            report.failed.append({"index": i, "name": names[i], "formula": f, "reason": f"normalize: {e}"})
            tick(1)
            continue
        reason = unsafe_reason(f)
        if reason is not None:
            report.failed.append({"index": i, "name": names[i], "formula": f, "reason": reason})
            tick(1)
            continue
        if (images / f"{names[i]}.png").exists():
            report.skipped_existing += 1
            tick(1)
        elif known_failures.get(names[i], (None, ""))[0] == f:
            report.failed.append({"index": i, "name": names[i], "formula": f, "reason": known_failures[names[i]][1]})
            tick(1)
        elif names[i] in seen_names:
            pass  # a duplicate name is rendered once; it is resolved after the run
        else:
            seen_names[names[i]] = i
            todo.append(i)

    # A formula already in token form (its label is itself) is typeset through to_latex: the
    # spaced form of dimensions (hspace { 1 c m }) is not valid TeX, and a spaced row gap after
    # a line break can even hang TeX. Raw formulas are typeset as written, as im2latex-100k's were.
    tex_sources = [to_latex(f) if labels[i] and labels[i] == f.strip() else f for i, f in enumerate(formulas)]

    def keep(raw: np.ndarray, name: str) -> bool:
        return _save_page(raw, cfg, str(images), name)

    done_set, failed_idx, report.latex_runs = _run_jobs(todo, names, tex_sources, keep, cfg, tick)

    for i in sorted(failed_idx):
        report.failed.append({"index": i, "name": names[i], "formula": formulas[i], "reason": failed_idx[i]})
    report.failed.sort(key=lambda d: int(d["index"]))  # type: ignore[call-overload]
    report.rendered = len(done_set)
    bad = {int(d["index"]) for d in report.failed}  # type: ignore[call-overload]
    rendered_lines: list[str] = []
    for i in range(len(formulas)):
        if i in bad:
            continue
        if (images / f"{names[i]}.png").exists():
            rendered_lines.append(f"{names[i]}.png {i}")
            if i not in done_set and seen_names.get(names[i], i) != i:
                tick(1)  # duplicate name resolved
    atomic_write_text(out / "formulas.norm.lst", "".join(lab + "\n" for lab in labels))
    atomic_write_text(out / f"{split}_filter.lst", "".join(line + "\n" for line in rendered_lines))
    if cfg.write_packed:
        from img2tex.data.packed import pack_processed

        pack_processed(out, out / "packed", split=split)
    report.seconds = time.perf_counter() - t0
    atomic_write_text(report_path, json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
    return report
