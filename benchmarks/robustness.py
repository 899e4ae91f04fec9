"""Robustness benchmark: the same test formulas drawn by other pipelines, read as predict reads them.

Renders an evenly spaced sample of the im2latex-100k test formulas (test formulas only: nothing
here is trained on) under several conditions, then scores one or more models on each with BLEU-4,
edit accuracy and exact match. Every image goes through `load_image` and `preprocess` with the
glyph-size estimate on, exactly as `img2tex predict` reads a user's file.

Conditions (`HELD OUT` ones use a rasterizer or font family that models/recipe.sh never trains on):
  clean      latex + dvipng, Computer Modern, 200 dpi halved: the training look
  gs         pdflatex + Ghostscript (Type 1 outlines; im2latex-100k's own images went this way)
  pdftoppm   pdflatex + poppler's pdftoppm                                    HELD OUT rasterizer
  times      Times (mathptmx) through dvipng
  pxfonts    Palatino-like pxfonts text and math fonts through dvipng          HELD OUT font
  screen     75 dpi, not halved: x-height about 5 px, as a PDF at 100% on a screen
  print      300 dpi, not halved: 3x the training glyph size
  dark       the clean images as light grey text on a near-black background (dark mode)
  colour     the clean renders in colour on tinted, shaded backgrounds (a third dark)
  jpeg       JPEG at quality 30-95
  katex      KaTeX in headless Chromium, as a web page draws them (formulas KaTeX rejects, e.g.
             \\mit, are left out of this condition)

Preprocessing ablations, each the same images with one step of predict's
reading switched off in this process only: `dark-noinvert` (no dark-mode inversion),
`screen-noscale` and `print-noscale` (no glyph-size rescale), `colour-nostretch` (no contrast
stretch).

    python benchmarks/robustness.py --model models/default              # writes results/robustness.md
    python benchmarks/robustness.py --model models/default --model ../work/runs/new/best --limit 300

Renders go to WORK/robust (default ../work; needs WORK/corpus from step 1 of models/recipe.sh).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import RESULTS, describe, write_json  # noqa: E402

from img2tex.fileio import atomic_write_text  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

#: condition -> render options (None: derived from the clean renders by this script)
CONDITIONS: dict[str, list[str] | None] = {
    "clean": [],
    "gs": ["--rasterizer", "gs"],
    "pdftoppm": ["--rasterizer", "pdftoppm"],
    "times": ["--font", "times"],
    "pxfonts": ["--font", "pxfonts"],
    "screen": ["--dpi", "75", "--downsample", "1"],
    "print": ["--dpi", "300", "--downsample", "1"],
    "dark": None,
    "colour": ["--colour", "1", "--seed", "5"],
    "jpeg": ["--jpeg-quality", "30", "--seed", "7"],
    "katex": ["--rasterizer", "katex"],
}
HELD_OUT = ("pdftoppm", "pxfonts")
#: ablation -> (images of this condition, the preprocessing step switched off)
ABLATIONS: dict[str, tuple[str, str]] = {
    "dark-noinvert": ("dark", "invert"),
    "screen-noscale": ("screen", "scale"),
    "print-noscale": ("print", "scale"),
    "colour-nostretch": ("colour", "stretch"),
}


def sample(work: Path, limit: int) -> tuple[Path, Path]:
    """Every k-th test formula (and its im2latex image name), so the sample spans the split."""
    out = work / "robust"
    out.mkdir(parents=True, exist_ok=True)
    formulas = (work / "corpus" / "test.lst").read_text(encoding="utf-8").split("\n")[:-1]
    names = (work / "corpus" / "test_names.lst").read_text(encoding="utf-8").split("\n")[:-1]
    step = max(1, len(formulas) // limit)
    keep = list(range(0, len(formulas), step))[:limit]
    lst, nms = out / f"test{limit}.lst", out / f"test{limit}_names.lst"
    lst.write_text("".join(formulas[i] + "\n" for i in keep), encoding="utf-8")
    nms.write_text("".join(names[i] + "\n" for i in keep), encoding="utf-8")
    return lst, nms


def render(work: Path, limit: int, condition: str) -> Path:
    lst, names = sample(work, limit)
    out = work / "robust" / f"{condition}{limit}"
    opts = CONDITIONS[condition]
    if opts is None:
        return dark_copy(render(work, limit, "clean"), out)
    if (out / "render_report.json").is_file():
        return out  # rendered before (also: carried to a machine without TeX)
    cmd = ["img2tex", "render", str(lst), str(out), "--split", "test", "--names", str(names), *opts]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode not in (0, 3):
        raise SystemExit(f"render failed for {condition}")
    return out


def dark_copy(clean: Path, out: Path) -> Path:
    """The clean renders as dark-mode screenshots: RGB, grey-white ink on near black."""
    images = out / "images_processed"
    images.mkdir(parents=True, exist_ok=True)
    for name in ("formulas.norm.lst", "test_filter.lst"):
        (out / name).write_bytes((clean / name).read_bytes())
    bg, fg = np.array([30, 31, 36], np.float32), np.array([220, 222, 225], np.float32)
    for p in sorted((clean / "images_processed").glob("*.png")):
        target = images / p.name
        if target.exists():
            continue
        alpha = (1.0 - np.asarray(Image.open(p).convert("L"), np.float32) / 255.0)[:, :, None]
        rgb = np.clip(np.rint(bg * (1 - alpha) + fg * alpha), 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(target)
    return out


@contextmanager
def switched_off(step: str | None) -> Iterator[None]:
    """Switch one step of predict's image reading off, in this process only (for ablations)."""
    from img2tex import images

    saved = (images._dark_background, images.normalize_contrast)
    if step == "invert":
        images._dark_background = lambda a: False
    elif step == "stretch":
        images.normalize_contrast = lambda a: a
    try:
        yield
    finally:
        images._dark_background, images.normalize_contrast = saved


def score(model: str, data: Path, scale: float | None, engine: str, device: str) -> dict[str, object]:
    from img2tex.data.layout import open_split
    from img2tex.scoring.evaluate import evaluate

    split = open_split(data, "test")
    rep = evaluate(model, split, beam=1, progress=False, scale=scale, engine=engine, device=device)
    keys = ("bleu", "edit_accuracy", "exact_match", "count", "images_per_s")
    return {k: rep[k] for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=REPO.parent / "work")
    ap.add_argument(
        "--model", action="append", default=[], help="model folder, or LABEL=FOLDER to name its row; repeat for several"
    )
    ap.add_argument("--render-only", action="store_true", help="only make the images (e.g. to carry them elsewhere)")
    ap.add_argument("--limit", type=int, default=500, help="test formulas in the sample (evenly spaced)")
    ap.add_argument("--only", action="append", choices=[*CONDITIONS, *ABLATIONS], help="conditions to run")
    ap.add_argument("--engine", default="auto", help="auto | onnx | torch (as img2tex eval)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (torch engine)")
    ap.add_argument("--out", type=Path, default=RESULTS / "robustness", help="results file stem (.json, .md)")
    args = ap.parse_args()
    if not (args.work / "corpus" / "test.lst").is_file():
        raise SystemExit(f"error: {args.work / 'corpus' / 'test.lst'} not found: run step 1 of models/recipe.sh")
    wanted = args.only or [*CONDITIONS, *ABLATIONS]
    out_json = args.out.with_suffix(".json")
    results = json.loads(out_json.read_text()) if out_json.exists() else {}
    results["machine"] = describe()
    results["limit"] = args.limit
    results["held_out"] = list(HELD_OUT)
    table = results.setdefault("models", {})
    for condition in wanted:
        source, step = ABLATIONS.get(condition, (condition, None))
        data = render(args.work, args.limit, source)
        rendered_here = CONDITIONS.get(condition) is not None  # not derived from another condition's images
        report = json.loads((data / "render_report.json").read_text()) if rendered_here else None
        if report and report["rendered"]:  # a fresh render: its rate is this machine's
            results.setdefault("render_formulas_per_s", {})[condition] = round(report["ok"] / report["seconds"], 1)
        if args.render_only:
            continue
        for spec in args.model:
            label, _, model = spec.rpartition("=")
            with switched_off(step if step != "scale" else None):
                rep = score(model, data, 1.0 if step == "scale" else None, args.engine, args.device)
            table.setdefault(label or model, {})[condition] = rep
            bleu, exact = rep["bleu"], rep["exact_match"]
            print(f"{label or model} {condition}: BLEU {bleu:.2f} exact {exact:.3f}", file=sys.stderr)
            write_json(out_json, results)
    if not args.render_only:
        atomic_write_text(args.out.with_suffix(".md"), markdown(results))


def markdown(results: dict) -> str:
    conds = [c for c in [*CONDITIONS, *ABLATIONS] if any(c in m for m in results["models"].values())]
    lines = [
        "# Robustness benchmark",
        "",
        f"{results['limit']} evenly spaced im2latex-100k test formulas per condition, greedy decoding, read as"
        " `img2tex predict` reads files (glyph-size rescale on). Held out of training: "
        + ", ".join(results["held_out"])
        + ". Made by `python benchmarks/robustness.py` (see its docstring for the conditions; the exact command"
        " is `command` in robustness.json).",
        "",
        *([results["note"], ""] if results.get("note") else []),
        f"Machine: {json.dumps(results['machine'])}",
        "",
        "BLEU-4 / edit accuracy % / exact match %:",
        "",
        "| model | " + " | ".join(c + (" (held out)" if c in results["held_out"] else "") for c in conds) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for model, reps in results["models"].items():
        cells = []
        for c in conds:
            r = reps.get(c)
            cells.append(
                "" if r is None else f"{r['bleu']:.1f} / {100 * r['edit_accuracy']:.1f} / {100 * r['exact_match']:.1f}"
            )
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    rates = results.get("render_formulas_per_s", {})
    if rates:
        lines += ["", "Rendering rate of each pipeline here (formulas/s on all cores, from its render report):", ""]
        lines += ["| " + " | ".join(rates) + " |", "|" + "---|" * len(rates)]
        lines.append("| " + " | ".join(map(str, rates.values())) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
