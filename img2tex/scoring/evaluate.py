"""Decode a labelled split with a trained model and score it (BLEU, edit distance, exact match).

Runs on ONNX Runtime on the CPU (no torch needed) and on torch for CUDA (`decoding.engine`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from img2tex.data.dataset import SplitDataset
from img2tex.data.split import Split
from img2tex.decoding.engine import load_engine
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.splits import decode_split
from img2tex.fileio import atomic_write_text
from img2tex.network.folder import load_config, load_vocab
from img2tex.progress import progress_bar
from img2tex.scoring.metrics import score


def evaluate(
    model_dir: str | Path,
    split: Split,
    beam: int = DecodeConfig.beam,
    limit: int | None = None,
    batch_size: int = 32,
    out_dir: str | Path | None = None,
    progress: bool = True,
    device: str = "auto",
    max_len: int = DecodeConfig.max_len,
    max_tokens: int = 10_000,
    scale: float | str | None = "auto",
    engine: str = "auto",
    image_match: bool = False,
    well_formed: bool = DecodeConfig.well_formed,
    verify: bool = False,
) -> dict[str, Any]:
    """Decode `split` (the first `limit` items) with the model in `model_dir` and score it.

    Returns the report dict (bleu, edit_accuracy, mean_edit_distance, exact_match, count, beam,
    seconds, images_per_s, model_dir, engine). With `out_dir`, writes predictions.tsv (name, ref,
    hyp) and report.json there. `scale` goes to images.preprocess: "auto" lets the split's layout
    decide (`data.split.needs_rescale`), 1.0 reads renders at the training look as stored, None
    estimates every image's glyph size (photos, screenshots). With `image_match`,
    each prediction and its reference are also rendered and compared (`img2tex.scoring.image_match`; needs
    LaTeX), under the report's key image_match.
    """
    if image_match:  # missing LaTeX: say so now, not after decoding the whole split
        from img2tex.rendering.renderer import RenderConfig, check_tools

        check_tools(RenderConfig.font, RenderConfig.rasterizer)
    verifier = None
    if verify:  # missing LaTeX: say so now
        from img2tex.decoding.verify import Verifier

        verifier = Verifier()
    model_cfg, image_cfg, _ = load_config(Path(model_dir))
    vocab = load_vocab(Path(model_dir), model_cfg)
    runner, _ = load_engine(model_dir, device, engine)
    ds = SplitDataset(split, vocab, image_cfg, max_tokens=max_tokens, scale=scale, limit=limit)
    dcfg = DecodeConfig(beam=beam, max_len=max_len, well_formed=well_formed)
    t0 = time.perf_counter()
    with progress_bar(f"decoding (beam {beam})", len(ds), enabled=progress) as advance:
        hyps = decode_split(runner, ds, dcfg, batch_size, advance, verifier)
    seconds = time.perf_counter() - t0
    refs = [ds.formula(k) for k in range(len(ds))]
    texts = [vocab.text(h.tokens) for h in hyps]
    canonical = getattr(split, "canonical", None)  # a layout's scoring form (CROHME's)
    if canonical is not None:
        texts = [canonical(t) for t in texts]
    report: dict[str, Any] = dict(score(refs, texts))
    report.update(
        beam=beam,
        well_formed=well_formed,
        verify=verify,
        seconds=round(seconds, 3),
        images_per_s=round(len(ds) / seconds, 2) if seconds > 0 else 0.0,
        model_dir=str(model_dir),
        engine=type(runner).__name__,
        skipped_long=(len(split) if limit is None else min(limit, len(split))) - len(ds),
    )
    if image_match:
        from img2tex.scoring.image_match import image_match as match_images

        with progress_bar("image match (rendering)", 2 * len(refs), enabled=progress) as advance:
            report["image_match"] = match_images(refs, texts, progress=advance)
    if out_dir is not None:
        out = Path(out_dir)
        lines = ["name\tref\thyp"] + [f"{ds.name(k)}\t{refs[k]}\t{texts[k]}" for k in range(len(ds))]
        atomic_write_text(out / "predictions.tsv", "\n".join(lines) + "\n")
        atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report
