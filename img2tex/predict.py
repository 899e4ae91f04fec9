"""Decode images of formulas to LaTeX: one path, many paths, or folders (recursively).

Import-light on purpose: `img2tex predict` on one image is dominated by start-up, so torch and
the model code are imported only when a model is actually loaded.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2tex.errors import Img2TexError, ModelError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Prediction:
    """Result for one input image: `latex` and `score` (mean token log-probability, <= 0), or
    `error` (one line) when the image could not be read."""

    path: Path
    latex: str | None = None
    score: float | None = None
    error: str | None = None
    tex_path: Path | None = None  # where the .tex was written, with out_dir

    @property
    def ok(self) -> bool:
        return self.error is None


def default_model_dir() -> Path:
    """The model shipped in the package (img2tex.models/default); ModelError when there is none."""
    try:
        d = Path(str(importlib.resources.files("img2tex.models") / "default"))
    except ModuleNotFoundError:
        d = None
    if d is None or not (d / "config.json").is_file():
        raise ModelError("no default model shipped yet; pass --model DIR")
    return d


def find_images(inputs: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """(path, output-relative path) for each input: a file as given (its name), a folder's
    .png/.jpg/.jpeg files recursively in sorted order (path relative to that folder).
    A missing input is still listed, so the caller reports it as a per-image error."""
    out: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            out.extend((f, f.relative_to(p)) for f in files)
        else:
            out.append((p, Path(p.name)))
    return out


class Predictor:
    """A loaded model plus decoding settings; `predict_arrays` decodes preprocessed-ready images."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto", beam: int = 5, max_len: int = 200,
                 batch_size: int = 16, scale: float | None = None) -> None:
        from img2tex.checkpoint import load_model
        from img2tex.decoding import DecodeConfig
        from img2tex.evaluate import pick_device

        self.device = pick_device(device)
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.model, self.vocab, self.image_cfg = load_model(self.model_dir, self.device)
        self.dcfg = DecodeConfig(beam=beam, max_len=max_len)
        self.batch_size = max(1, batch_size)
        self.scale = scale

    def prepare(self, path_or_bytes: str | Path | bytes) -> Any:
        """Load and preprocess one image (ImageError on a bad one)."""
        from img2tex.images import load_image, preprocess

        return preprocess(load_image(path_or_bytes), self.image_cfg, scale=self.scale)

    def predict_arrays(self, arrays: Sequence[Any]) -> list[tuple[str, float]]:
        """(latex, score) for preprocessed uint8 arrays, decoded in one batch."""
        from img2tex.decoding import decode
        from img2tex.pipeline import collate_images
        from img2tex.tokenizer import to_latex

        images, mask = collate_images(arrays, self.image_cfg.bucket)
        hyps = decode(self.model, images.to(self.device), mask.to(self.device), self.dcfg,
                      self.vocab.bos_id, self.vocab.eos_id)
        # to_latex: the token form spells dimensions with spaces, which TeX cannot read.
        return [(to_latex(" ".join(self.vocab.decode(h.tokens))), h.score) for h in hyps]

    def predict_paths(self, inputs: Iterable[str | Path], out_dir: str | Path | None = None) -> Iterator[Prediction]:
        """Yield a Prediction per image found in `inputs`, in order, decoding `batch_size` at a
        time; a bad image yields an error Prediction and the rest go on. With `out_dir`, each
        result is also written (atomically) to out_dir/<relative path>.tex."""
        from img2tex.fileio import atomic_write_text

        items = find_images(inputs)
        for s in range(0, len(items), self.batch_size):
            chunk = items[s : s + self.batch_size]
            results: list[Prediction] = []
            ready: list[tuple[int, Any]] = []
            for j, (path, _) in enumerate(chunk):
                results.append(Prediction(path))
                try:
                    ready.append((j, self.prepare(path)))
                except Img2TexError as exc:
                    msg = str(exc)  # name the file: preprocess errors ("image is blank") do not
                    results[j].error = msg if str(path) in msg else f"{path}: {msg}"
            if ready:
                for (j, _), (latex, sc) in zip(ready, self.predict_arrays([a for _, a in ready])):
                    results[j].latex, results[j].score = latex, sc
            for (_, rel), res in zip(chunk, results):
                if out_dir is not None and res.ok:
                    res.tex_path = Path(out_dir) / rel.with_suffix(".tex")
                    atomic_write_text(res.tex_path, (res.latex or "") + "\n")
                yield res


def predict(
    inputs: Iterable[str | Path], model_dir: str | Path | None = None, beam: int = 5, batch_size: int = 16,
    out_dir: str | Path | None = None, device: str = "auto", max_len: int = 200, scale: float | None = None,
) -> Iterator[Prediction]:
    """Convenience: load the model (default: the shipped one) and yield predictions for `inputs`."""
    yield from Predictor(model_dir, device=device, beam=beam, max_len=max_len, batch_size=batch_size,
                         scale=scale).predict_paths(inputs, out_dir)
