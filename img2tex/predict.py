"""Decode images of formulas to LaTeX: one path, many paths, or folders (recursively).

Import-light on purpose: `img2tex predict` on one image is dominated by start-up, so the engine
(ONNX Runtime on the CPU, torch for CUDA; see `decoding.engine`) is imported only when the model
is first used, and torch never on the CPU path.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.errors import Img2TexError, ModelError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

#: Images decoded together by default.
BATCH_SIZE = 16

#: Images read ahead, in batches, so a window can be decoded in order of size (see predict_paths).
WINDOW_BATCHES = 16


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
    """A model folder plus decoding settings; `predict_arrays` decodes preprocessed images.

    `engine`: 'onnx' (ONNX Runtime on the CPU, no torch), 'torch' (CPU or CUDA) or 'auto' (ONNX
    Runtime on the CPU when the folder holds an export, torch otherwise). The config and
    vocabulary are checked at once; the engine is loaded on first use.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        beam: int = DecodeConfig.beam,
        max_len: int = DecodeConfig.max_len,
        batch_size: int = BATCH_SIZE,
        scale: float | None = None,
        engine: str = "auto",
    ) -> None:
        from img2tex.decoding.engine import pick_engine
        from img2tex.modelfile import load_config, load_vocab

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        model_cfg, self.image_cfg, _ = load_config(self.model_dir)
        self.vocab = load_vocab(self.model_dir, model_cfg)
        self.device_name = device
        self.engine = pick_engine(engine, device, self.model_dir)
        self.dcfg = DecodeConfig(beam=beam, max_len=max_len)
        self.batch_size = max(1, batch_size)
        self.scale = scale
        self._engine: Any = None

    def load(self) -> None:
        """Load the engine (no-op once loaded)."""
        if self._engine is None:
            from img2tex.decoding.engine import load_engine

            self._engine, self.device = load_engine(self.model_dir, self.device_name, self.engine)

    def prepare(self, path_or_bytes: str | Path | bytes) -> Any:
        """Load and preprocess one image (ImageError on a bad one)."""
        from img2tex.images import load_image, preprocess

        return preprocess(load_image(path_or_bytes), self.image_cfg, scale=self.scale)

    def predict_arrays(self, arrays: Sequence[Any]) -> list[tuple[str, float]]:
        """(latex, score) for preprocessed uint8 arrays, decoded in one batch."""
        from img2tex.decoding.search import decode
        from img2tex.images import batch_arrays
        from img2tex.tokenizer import to_latex

        self.load()
        images, mask = batch_arrays(arrays, self.image_cfg.bucket)
        hyps = decode(self._engine, images, mask, self.dcfg, self.vocab.bos_id, self.vocab.eos_id)
        # to_latex: the token form spells dimensions with spaces, which TeX cannot read.
        return [(to_latex(self.vocab.text(h.tokens)), h.score) for h in hyps]

    def predict_paths(self, inputs: Iterable[str | Path], out_dir: str | Path | None = None) -> Iterator[Prediction]:
        """Yield a Prediction per image found in `inputs`, in order; a bad image yields an error
        Prediction and the rest go on. With `out_dir`, each result is also written (atomically)
        to out_dir/<relative path>.tex.

        Images are read `WINDOW_BATCHES` batches at a time and decoded `batch_size` at a time in
        order of size, so that a batch pads little (a folder's images come in name order, with
        sizes all over the place); results still come out in input order.
        """
        from img2tex.fileio import atomic_write_text
        from img2tex.images import bucket_shape

        items = find_images(inputs)
        self.load()
        window = self.batch_size * WINDOW_BATCHES
        for s in range(0, len(items), window):
            chunk = items[s : s + window]
            results: list[Prediction] = []
            ready: list[tuple[int, Any]] = []
            for j, (path, _) in enumerate(chunk):
                results.append(Prediction(path))
                try:
                    ready.append((j, self.prepare(path)))
                except Img2TexError as exc:
                    msg = str(exc)  # name the file: preprocess errors ("image is blank") do not
                    results[j].error = msg if str(path) in msg else f"{path}: {msg}"
            ready.sort(key=lambda ja: (bucket_shape(*ja[1].shape, self.image_cfg), ja[1].shape[1]))
            for b in range(0, len(ready), self.batch_size):
                batch = ready[b : b + self.batch_size]
                for (j, _), (latex, sc) in zip(batch, self.predict_arrays([a for _, a in batch])):
                    results[j].latex, results[j].score = latex, sc
            for (_, rel), res in zip(chunk, results):
                if out_dir is not None and res.ok:
                    res.tex_path = Path(out_dir) / rel.with_suffix(".tex")
                    atomic_write_text(res.tex_path, (res.latex or "") + "\n")
                yield res


def predict(
    inputs: Iterable[str | Path],
    model_dir: str | Path | None = None,
    beam: int = DecodeConfig.beam,
    batch_size: int = BATCH_SIZE,
    out_dir: str | Path | None = None,
    device: str = "auto",
    max_len: int = DecodeConfig.max_len,
    scale: float | None = None,
) -> Iterator[Prediction]:
    """Convenience: load the model (default: the shipped one) and yield predictions for `inputs`."""
    yield from Predictor(
        model_dir, device=device, beam=beam, max_len=max_len, batch_size=batch_size, scale=scale
    ).predict_paths(inputs, out_dir)
