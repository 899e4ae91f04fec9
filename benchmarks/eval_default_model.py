"""Measure the default model as the README reports it: accuracy on the im2latex-100k test split
(clean, 1.5x, 0.7x, JPEG), folder decoding speed, single-image latency, model size.

Everything runs through the `img2tex` command, as a user would run it. Renders go to WORK
(default ../work, the same folder as models/recipe.sh); results to benchmarks/results/.

    python benchmarks/eval_default_model.py                # everything
    python benchmarks/eval_default_model.py --only clean   # one test variant
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import RESULTS, write_json, write_results  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]

#: test variant -> (extra render options, whether eval rescales by the glyph-size estimate)
VARIANTS: dict[str, tuple[list[str], bool]] = {
    "clean": ([], False),
    "scale1.5": (["--dpi", "300"], True),
    "scale0.7": (["--dpi", "140"], True),
    "jpeg": (["--jpeg-quality", "30", "--seed", "7"], False),
}


def sh(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(args), file=sys.stderr, flush=True)
    return subprocess.run(args, text=True, **kw)  # type: ignore[call-overload]


def _readable(packed: Path) -> bool:
    """True when `packed` is a packed split this img2tex reads (not missing, not an older version)."""
    from img2tex.data.packed import PackedSplit
    from img2tex.errors import DatasetError

    try:
        PackedSplit(packed)
    except DatasetError:
        return False
    return True


def render_test(work: Path, variant: str) -> Path:
    out = work / f"test_{variant}"
    if not _readable(out / "packed"):  # render skips images it has, so this only re-packs old folders
        r = sh(
            [
                "img2tex",
                "render",
                str(work / "corpus" / "test.lst"),
                str(out),
                "--split",
                "test",
                "--names",
                str(work / "corpus" / "test_names.lst"),
                "--packed",
                *VARIANTS[variant][0],
            ],
            stdout=subprocess.PIPE,
        )
        if r.returncode not in (0, 3):
            raise SystemExit(f"render failed for {variant}")
    return out


def evaluate(work: Path, variant: str, beam: int, model: str | None, limit: int | None) -> dict:
    data = render_test(work, variant)
    out = work / "eval" / f"{variant}-beam{beam}"
    args = ["img2tex", "eval", str(data / "packed"), "--split", "test", "--beam", str(beam), "-o", str(out)]
    if VARIANTS[variant][1]:
        args.append("--rescale")
    if model:
        args += ["--model", model]
    if limit:
        args += ["--limit", str(limit)]
    r = sh(args, stdout=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit(f"eval failed for {variant} beam {beam}")
    report = json.loads(r.stdout)
    rendered = json.loads((data / "render_report.json").read_text())
    report["rendered"], report["render_failed"] = rendered["ok"], rendered["failed_count"]
    return report


def speed(work: Path, model: str | None, n_folder: int) -> dict:
    """Folder decoding images/s (greedy, beam 2 = the default, beam 5) and `img2tex predict one.png` wall
    time (default beam)."""
    src = sorted((render_test(work, "clean") / "images_processed").glob("*.png"))[:n_folder]
    model_args = ["--model", model] if model else []
    res: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for p in src:
            shutil.copy(p, folder / p.name)
        for beam in (1, 2, 5):
            t0 = time.perf_counter()
            sh(
                [
                    "img2tex",
                    "predict",
                    str(folder),
                    "--out",
                    str(Path(tmp) / f"out{beam}"),
                    "--beam",
                    str(beam),
                    *model_args,
                ],
                stderr=subprocess.DEVNULL,
                check=True,
            )
            res[f"folder_images_per_s_beam{beam}"] = round(len(src) / (time.perf_counter() - t0), 2)
    one = REPO / "examples" / "quadratic.png"
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        sh(["img2tex", "predict", str(one), *model_args], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    res["predict_one_image_s_median"] = round(statistics.median(times), 3)
    res["predict_one_image_s_min"] = round(min(times), 3)
    res["folder_images"] = len(src)
    return res


def model_size(model: str | None) -> dict:
    from img2tex.network.checkpoint import load_model
    from img2tex.network.model import count_parameters
    from img2tex.predict import default_model_dir

    d = Path(model) if model else default_model_dir()
    m, vocab, _ = load_model(d, "cpu")
    size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
    return {"parameters": count_parameters(m), "vocab": len(vocab), "bytes_on_disk": size}


def machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=REPO.parent / "work")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--only", choices=list(VARIANTS), action="append", help="test variants to run")
    ap.add_argument("--beams", default="1,5", help="beam widths for the clean test set")
    ap.add_argument("--limit", type=int, default=None, help="score only the first N test images")
    ap.add_argument("--folder-images", type=int, default=300, help="images in the folder-decoding timing")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", default="default_model", help="results file stem in benchmarks/results/")
    args = ap.parse_args()
    if not (args.work / "corpus" / "test.lst").is_file():
        raise SystemExit(
            f"error: {args.work / 'corpus' / 'test.lst'} not found: run step 1 of models/recipe.sh "
            "(img2tex corpus) with the same WORK, or pass --work"
        )

    out_json = RESULTS / f"{args.out}.json"
    results = json.loads(out_json.read_text()) if out_json.exists() else {}
    results["machine"] = machine()
    results["model"] = model_size(args.model)
    results.setdefault("accuracy", {})
    for variant in args.only or list(VARIANTS):
        beams = [int(b) for b in args.beams.split(",")] if variant == "clean" else [1]
        for beam in beams:
            rep = evaluate(args.work, variant, beam, args.model, args.limit)
            results["accuracy"][f"{variant}-beam{beam}"] = {
                k: rep[k]
                for k in (
                    "bleu",
                    "edit_accuracy",
                    "mean_edit_distance",
                    "exact_match",
                    "count",
                    "images_per_s",
                    "rendered",
                    "render_failed",
                    "skipped_long",
                )
            }
            write_json(out_json, results)
    if not args.no_speed:
        results["speed"] = speed(args.work, args.model, args.folder_images)
    write_results(args.out, results, markdown(results))


def markdown(results: dict) -> list[str]:
    m = results["machine"]
    lines = [
        "# Default model: accuracy and speed",
        "",
        f"Machine: {m['platform']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']} "
        f"({m['threads']} threads). Produced by `python benchmarks/eval_default_model.py`.",
        "",
        f"Model: {results['model']['parameters']:,} parameters, vocabulary {results['model']['vocab']}, "
        f"{results['model']['bytes_on_disk'] / 1e6:.1f} MB on disk.",
        "",
        "| test set (im2latex-100k test formulas, our renders) | decoding | images | BLEU-4 | edit accuracy "
        "| mean edit dist. | exact match | images/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results["accuracy"].items():
        variant, beam = key.rsplit("-beam", 1)
        lines.append(
            f"| {variant} | {'greedy' if beam == '1' else 'beam ' + beam} | {r['count']} | {r['bleu']:.2f} "
            f"| {r['edit_accuracy']:.2%} | {r['mean_edit_distance']:.4f} | {r['exact_match']:.2%} "
            f"| {r['images_per_s']:.1f} |"
        )
    lines += [
        "",
        "Variants: clean = the processed im2latex look (200 dpi, crop, pad 8, halve); scale1.5 / "
        "scale0.7 = rendered at 300 / 140 dpi and decoded with the automatic glyph-size rescale "
        "(`--rescale`, what `predict` does); jpeg = JPEG round trip at quality 30-95.",
        "Of the 9,902 test formulas, those that do not compile under our preamble are not rendered "
        "(`rendered` in the JSON); formulas over 150 tokens are skipped by eval (`skipped_long`).",
    ]
    if "speed" in results:
        s = results["speed"]
        lines += [
            "",
            "| speed (2-core CPU) | value |",
            "|---|---|",
            f"| folder decoding, greedy ({s['folder_images']} images, `predict`'s engine: ONNX Runtime when "
            "the model has its export, decoded in order of size) "
            f"| {s['folder_images_per_s_beam1']} images/s |",
            f"| folder decoding, beam 2 (the default) | {s.get('folder_images_per_s_beam2', '–')} images/s |",
            f"| folder decoding, beam 5 | {s['folder_images_per_s_beam5']} images/s |",
            f"| `img2tex predict one.png`, wall time from process start (median of 7; the same engine and "
            "the default beam, torch is not imported) | "
            f"{s['predict_one_image_s_median']} s (min {s['predict_one_image_s_min']} s) |",
        ]
    return lines


if __name__ == "__main__":
    main()
