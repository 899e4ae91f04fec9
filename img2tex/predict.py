"""Decode images of formulas to LaTeX: one path, many paths, or folders (recursively).

Import-light on purpose: `img2tex predict` on one image is dominated by start-up, so torch and
the model code are imported only when a model is actually loaded, and a few images decoded
greedily on the CPU go through numpy_model.py and never import torch at all (`pick_engine`).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from img2tex.errors import Img2TexError, ModelError
from img2tex.hypotheses import DecodeConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ENGINES = ("auto", "torch", "numpy")

#: Up to this many images, greedy CPU decoding goes through numpy: importing torch costs 1.1-1.6 s
#: and numpy decodes one image of the default model in ~0.05-0.15 s, while torch's batched
#: decoding (~27 images/s with 16 per batch) only pays off from about 20 images on (2-core CPU).
NUMPY_MAX_IMAGES = 8

#: Images decoded together by default.
BATCH_SIZE = 16

#: Images read ahead, in batches, so a window can be decoded in order of size (see predict_paths).
WINDOW_BATCHES = 16


def pick_engine(n_images: int, beam: int, device: str) -> str:
    """'numpy' for a few images decoded greedily on the CPU, 'torch' for everything else."""
    return "numpy" if n_images <= NUMPY_MAX_IMAGES and beam <= 1 and device in ("auto", "cpu") else "torch"


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

    `engine`: 'torch' (batched, any beam, CPU or CUDA), 'numpy' (greedy, one image at a time, no
    torch import) or 'auto' (`pick_engine` by the number of images, decided on the first call).
    The config and vocabulary are checked at once; the weights are read on first use.
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
        from img2tex.modelfile import load_config, load_vocab

        if engine not in ENGINES:
            raise ModelError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if engine == "numpy" and (beam > 1 or device == "cuda"):
            raise ModelError("the numpy engine decodes greedily on the CPU; use engine torch for beam search or CUDA")
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        model_cfg, self.image_cfg, _ = load_config(self.model_dir)
        self.vocab = load_vocab(self.model_dir, model_cfg)
        self.device_name, self.engine = device, engine
        self.dcfg = DecodeConfig(beam=beam, max_len=max_len)
        self.batch_size = max(1, batch_size)
        self.scale = scale
        self._model: Any = None

    def load(self, n_images: int = NUMPY_MAX_IMAGES + 1) -> None:
        """Read the weights into the engine chosen for `n_images` (no-op once loaded)."""
        if self._model is not None:
            return
        if self.engine == "auto":
            self.engine = pick_engine(n_images, self.dcfg.beam, self.device_name)
        if self.engine == "numpy":
            from img2tex.numpy_model import NumpyModel

            self._model = NumpyModel(self.model_dir)
        else:
            from img2tex.checkpoint import load_model
            from img2tex.device import pick_device

            self.device = pick_device(self.device_name)
            self._model, _, _ = load_model(self.model_dir, self.device)

    def prepare(self, path_or_bytes: str | Path | bytes) -> Any:
        """Load and preprocess one image (ImageError on a bad one)."""
        from img2tex.images import load_image, preprocess

        return preprocess(load_image(path_or_bytes), self.image_cfg, scale=self.scale)

    def predict_arrays(self, arrays: Sequence[Any]) -> list[tuple[str, float]]:
        """(latex, score) for preprocessed uint8 arrays, decoded in one batch."""
        from img2tex.tokenizer import to_latex

        self.load(len(arrays))
        if self.engine == "numpy":
            hyps = [self._model.greedy(a, self.dcfg) for a in arrays]
        else:
            from img2tex.data.pipeline import collate_images
            from img2tex.decoding import decode

            images, mask = collate_images(arrays, self.image_cfg.bucket)
            hyps = decode(
                self._model,
                images.to(self.device),
                mask.to(self.device),
                self.dcfg,
                self.vocab.bos_id,
                self.vocab.eos_id,
            )
        # to_latex: the token form spells dimensions with spaces, which TeX cannot read.
        return [(to_latex(" ".join(self.vocab.decode(h.tokens))), h.score) for h in hyps]

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
        self.load(len(items))
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
