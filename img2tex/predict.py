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
from typing import TYPE_CHECKING, Any, overload

from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.errors import ImageError, Img2TexError, ModelError
from img2tex.tokenizer import to_readable

if TYPE_CHECKING:
    from img2tex.decoding.verify import VerifyConfig
    from img2tex.images import ImageSource

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

#: Images decoded together by default.
BATCH_SIZE = 16

#: Images read ahead, in batches, so a window can be decoded in order of size (see predict_paths).
WINDOW_BATCHES = 16


@dataclass
class Candidate:
    """One of the n best answers: readable LaTeX, the token form and its score."""

    latex: str
    tokens: str
    score: float


@dataclass
class Prediction:
    """Result for one input image: `latex` (readable LaTeX, as a person writes it), `tokens`
    (the normalized token form the model writes, as im2latex-100k spells formulas) and `score`
    (mean token log-probability, <= 0); or `error` (one line) when the image could not be read.
    `path` is None for an image given as bytes, a PIL image or an array."""

    path: Path | None = None
    latex: str | None = None
    tokens: str | None = None
    score: float | None = None
    error: str | None = None
    tex_path: Path | None = None  # where the .tex was written, with out_dir
    #: With n_best > 1: the beam's finished answers, best first (the first is the answer above).
    candidates: list[Candidate] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def mathml(self) -> str | None:
        """The answer as MathML (`img2tex.mathml`), or None without an answer; `FormulaError`
        when the LaTeX does not convert."""
        if self.latex is None:
            return None
        from img2tex.mathml import to_mathml

        return to_mathml(self.latex)

    def text(self, fmt: str) -> str:
        """The answer in one of `FORMATS`: readable LaTeX, the token form or MathML."""
        if fmt == "mathml":
            return self.mathml or ""
        return (self.latex if fmt == "latex" else self.tokens) or ""


#: Output formats: readable LaTeX, the normalized token form, or MathML.
FORMATS = ("latex", "tokens", "mathml")
#: The file suffix `predict_paths` writes each format with.
SUFFIXES = {"latex": ".tex", "tokens": ".tex", "mathml": ".mml"}


def shipped_model(name: str) -> Path | None:
    """The folder of the model shipped in the package under `name` (img2tex.models/NAME), or None."""
    try:
        d = Path(str(importlib.resources.files("img2tex.models") / name))
    except ModuleNotFoundError:
        return None
    return d if (d / "config.json").is_file() and (d / "vocab.json").is_file() else None


def shipped_model_names() -> list[str]:
    """Names of the models shipped in the package ('default' first)."""
    try:
        root = Path(str(importlib.resources.files("img2tex.models")))
    except ModuleNotFoundError:
        return []
    names = sorted(d.name for d in root.iterdir() if shipped_model(d.name) is not None)
    return sorted(names, key=lambda n: n != "default")


def default_model_dir() -> Path:
    """The model shipped in the package (img2tex.models/default); ModelError when there is none."""
    d = shipped_model("default")
    if d is None:
        raise ModelError("no default model shipped yet; pass --model DIR")
    return d


def resolve_model(model: str | Path | None) -> Path:
    """The model folder meant by `model`: a folder path, or the name of a shipped model ('default',
    'handwritten'); None = the default model. A folder of that name in the working directory wins
    over the shipped model, so a path always means what it says."""
    if model is None:
        return default_model_dir()
    p = Path(model)
    if not p.exists() and len(p.parts) == 1 and (shipped := shipped_model(p.name)) is not None:
        return shipped
    if not p.is_dir():
        names = ", ".join(shipped_model_names()) or "none"
        raise ModelError(f"model folder not found: {p} (shipped models: {names})")
    return p


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


class Img2Tex:
    """The formula reader: a model folder (default: the shipped one) plus decoding settings.

    >>> from img2tex import Img2Tex
    >>> m = Img2Tex()
    >>> m.predict("formula.png").latex
    >>> [p.latex for p in m.predict([png_bytes, pil_image, numpy_array])]

    `predict` takes one image or a list (paths, bytes, PIL images, numpy arrays);
    `predict_paths` walks files and folders and can write .tex files; `predict_arrays` decodes
    images already preprocessed. The model loads once and is reused by every call.

    `model_dir`: a model folder or a shipped model's name ('default', 'handwritten').
    `engine`: 'onnx' (ONNX Runtime on the CPU, no torch), 'torch' (CPU or CUDA) or 'auto' (ONNX
    Runtime on the CPU when the folder holds an export, torch otherwise). The config and
    vocabulary are checked at once; the engine is loaded on first use. `verify`: answer with
    the candidate of the n best whose typeset picture matches the image (`decoding.verify`;
    needs LaTeX, checked at once); a `VerifyConfig` instead of True sets how.
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
        verify: bool | VerifyConfig = False,
    ) -> None:
        from img2tex.decoding.engine import pick_engine
        from img2tex.network.folder import load_config, load_vocab

        self.model_dir = resolve_model(model_dir)
        self.model_cfg, self.image_cfg, _ = load_config(self.model_dir)
        self.vocab = load_vocab(self.model_dir, self.model_cfg)
        self.device_name = device
        self.engine = pick_engine(engine, device, self.model_dir)
        self.dcfg = DecodeConfig(beam=beam, max_len=max_len)
        self.batch_size = max(1, batch_size)
        self.scale = scale
        self._engine: Any = None
        self._filter: Any = None  # the well-formed-LaTeX filter, made on first use
        self.verifier: Any = None
        if verify:  # LaTeX missing: one clear error now, not at the first image
            from img2tex.decoding.verify import Verifier

            self.verifier = Verifier(None if verify is True else verify)

    def load(self) -> None:
        """Load the engine (no-op once loaded)."""
        if self._engine is None:
            from img2tex.decoding.engine import load_engine

            self._engine, self.device = load_engine(self.model_dir, self.device_name, self.engine)

    def prepare(self, source: ImageSource, name: str | None = None) -> Any:
        """Load and preprocess one image (ImageError on a bad one)."""
        from img2tex.images import load_image, preprocess

        return preprocess(load_image(source, name), self.image_cfg, scale=self.scale)

    def predict_arrays(self, arrays: Sequence[Any]) -> list[tuple[str, float]]:
        """(token form, score) for preprocessed uint8 arrays, decoded in one batch."""
        return [nbest[0] for nbest in self.nbest_arrays(arrays)]

    def ranked_arrays(
        self, arrays: Sequence[Any], n_best: int = 1, verifier: Any = None
    ) -> list[list[tuple[str, float]]]:
        """`nbest_arrays`, `batch_size` images at a time; with a `verifier`
        (`decoding.verify.Verifier`), the beam widened to its candidates and the one whose picture
        matches the image first. The candidates of all `arrays` are typeset together, one LaTeX
        run per call rather than per batch (128 test renders on 2 AMD EPYC cores: 17.7 -> 15.1 s)."""
        k = max(n_best, verifier.cfg.n_best) if verifier is not None else n_best
        nbest: list[list[tuple[str, float]]] = []
        for b in range(0, len(arrays), self.batch_size):
            nbest += self.nbest_arrays(arrays[b : b + self.batch_size], k)
        if verifier is not None:
            for found, pick in zip(nbest, verifier.pick(arrays, nbest)):
                found.insert(0, found.pop(pick))
        return nbest

    def nbest_arrays(self, arrays: Sequence[Any], n_best: int = 1) -> list[list[tuple[str, float]]]:
        """Each preprocessed array's `n_best` best (token form, score), best first, decoded in one
        batch; the beam is widened to `n_best` when it is narrower."""
        import dataclasses

        from img2tex.decoding.filters import filter_for
        from img2tex.decoding.search import decode_nbest
        from img2tex.images import batch_arrays

        self.load()
        dcfg = self.dcfg if n_best <= self.dcfg.beam else dataclasses.replace(self.dcfg, beam=n_best)
        if self._filter is None and dcfg.well_formed:
            self._filter = filter_for(self.vocab, dcfg)
        images, mask = batch_arrays(arrays, self.image_cfg.bucket)
        bos, eos = self.vocab.bos_id, self.vocab.eos_id
        filt = self._filter.fresh() if dcfg.well_formed else None
        found = decode_nbest(self._engine, images, mask, dcfg, bos, eos, filt)
        return [[(self.vocab.text(h.tokens), h.score) for h in hyps[: max(1, n_best)]] for hyps in found]

    @overload
    def predict(self, images: ImageSource, n_best: int = 1) -> Prediction: ...
    @overload
    def predict(self, images: Sequence[ImageSource], n_best: int = 1) -> list[Prediction]: ...

    def predict(self, images: ImageSource | Sequence[ImageSource], n_best: int = 1) -> Prediction | list[Prediction]:
        """Read one image (a path, its bytes, a PIL image or a numpy array) or a list of them.

        One image gives a Prediction and raises `ImageError` when it cannot be read; a list
        gives a Prediction per item, in order, a bad item carrying its `error` (the others are
        still read). Images are decoded `batch_size` at a time in order of size. With `n_best` >
        1 each Prediction also holds its `candidates`: the beam's answers, best first (the beam
        is widened to `n_best` when it is narrower).
        """
        if _is_single(images):
            label = None if isinstance(images, (str, Path)) else ["image"]
            res = self._predict_sources([images], labels=label, n_best=n_best)[0][0]  # type: ignore[list-item]
            if not res.ok:
                raise ImageError(res.error or "unreadable image")
            return res
        return self._predict_sources(list(images), n_best=n_best)[0]  # type: ignore[arg-type]

    def _predict_sources(
        self, sources: Sequence[ImageSource], labels: Sequence[str] | None = None, n_best: int = 1
    ) -> tuple[list[Prediction], dict[int, Any]]:
        """A Prediction per source, in order (see `predict`), and the preprocessed image of each
        source that could be read, by index."""
        from img2tex.images import bucket_shape

        if sources:
            self.load()  # a missing engine is one error for all, before any per-image one
        results: list[Prediction] = []
        ready: list[tuple[int, Any]] = []
        for j, src in enumerate(sources):
            is_path = isinstance(src, (str, Path))
            results.append(Prediction(Path(src) if is_path else None))  # type: ignore[arg-type]
            name = labels[j] if labels is not None else str(src) if is_path else f"image {j + 1}"
            try:
                ready.append((j, self.prepare(src, name)))
            except Img2TexError as exc:
                msg = str(exc)  # name the image: preprocess errors ("image is blank") do not
                results[j].error = msg if msg.startswith(name) else f"{name}: {msg}"
        ready.sort(key=lambda ja: (bucket_shape(*ja[1].shape, self.image_cfg), ja[1].shape[1]))
        nbest = self.ranked_arrays([a for _, a in ready], n_best, self.verifier)
        for (j, _), found in zip(ready, nbest):
            found = found[: max(1, n_best)]
            tokens, sc = found[0]
            results[j].tokens, results[j].latex, results[j].score = tokens, to_readable(tokens), sc
            if n_best > 1:
                results[j].candidates = [Candidate(to_readable(tok), tok, s) for tok, s in found]
        return results, dict(ready)

    def attention_picture(self, array: Any, tokens: str) -> bytes:
        """A PNG of where the model looked for each of `tokens` (its token-form answer for the
        image `array`, preprocessed as `prepare` makes it): one panel per token, see
        `img2tex.network.attention`."""
        from img2tex.images import batch_arrays
        from img2tex.network.attention import attention_maps, draw_attention, grid_shape
        from img2tex.tokenizer import tokenize

        self.load()
        images, mask = batch_arrays([array], self.image_cfg.bucket)
        pools = [(ph, pw) for _, _, ph, pw in self.model_cfg.enc_blocks]
        grid = grid_shape(images.shape[2], images.shape[3], pools)
        labels = tokenize(tokens)
        maps = attention_maps(self._engine, images, mask, self.vocab.encode(labels), self.vocab.bos_id, grid)
        return draw_attention(array, maps, labels, self.model_cfg.downsample)

    def predict_paths(
        self,
        inputs: Iterable[str | Path],
        out_dir: str | Path | None = None,
        fmt: str = "latex",
        attention_dir: str | Path | None = None,
        n_best: int = 1,
    ) -> Iterator[Prediction]:
        """Yield a Prediction per image found in `inputs` (files, and folders searched
        recursively), in order; a bad image yields an error Prediction and the rest go on. With
        `out_dir`, each result is also written (atomically) to out_dir/<relative path>.tex, in
        `fmt` ('latex' or 'tokens'; 'mathml' writes .mml files); with `attention_dir`, its attention picture to
        attention_dir/<relative path>.png; with `n_best` > 1, each Prediction's `candidates`.

        Images are read `WINDOW_BATCHES` batches at a time and decoded in order of size within
        that window, so that a batch pads little (a folder's images come in name order, with
        sizes all over the place); results still come out in input order.
        """
        from img2tex.fileio import atomic_write_bytes, atomic_write_text

        if fmt not in FORMATS:
            raise Img2TexError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        items = find_images(inputs)
        window = self.batch_size * WINDOW_BATCHES
        for s in range(0, len(items), window):
            chunk = items[s : s + window]
            results, arrays = self._predict_sources([p for p, _ in chunk], n_best=n_best)
            for j, ((_, rel), res) in enumerate(zip(chunk, results)):
                if out_dir is not None and res.ok:
                    try:
                        text = res.text(fmt)
                    except Img2TexError as exc:
                        res.error = f"{res.path}: {exc}"
                        yield res
                        continue
                    res.tex_path = Path(out_dir) / rel.with_suffix(SUFFIXES[fmt])
                    atomic_write_text(res.tex_path, text + "\n")
                if attention_dir is not None and res.ok:
                    picture = self.attention_picture(arrays[j], res.tokens or "")
                    atomic_write_bytes(Path(attention_dir) / rel.with_suffix(".png"), picture)
                yield res


def _is_single(images: object) -> bool:
    """One image rather than a list of them (bytes and arrays are sequences too)."""
    if isinstance(images, (str, Path, bytes, bytearray, memoryview)):
        return True
    import numpy as np
    from PIL import Image

    return isinstance(images, (Image.Image, np.ndarray))
