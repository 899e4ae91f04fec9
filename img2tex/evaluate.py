"""Decode a labelled dataset with a trained model and score it (BLEU, edit distance, exact match)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from img2tex.decoding import DecodeConfig, decode
from img2tex.fileio import atomic_write_text
from img2tex.images import bucket_shape
from img2tex.metrics import score
from img2tex.model import Img2TexModel
from img2tex.data.split import Split
from img2tex.data.pipeline import SplitDataset, collate_images
from img2tex.vocab import Vocab


def pick_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cpu' / 'cuda' as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def decode_dataset(
    model: Img2TexModel,
    ds: SplitDataset,
    dcfg: DecodeConfig,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    advance: Callable[[int], None] | None = None,
) -> list[tuple[list[int], float]]:
    """(token ids, score) per dataset item, in dataset order. Items are decoded in batches of
    similar size (sorted by bucket shape) so little time goes into padding."""
    shapes = ds.shapes()
    order = sorted(range(len(ds)), key=lambda k: bucket_shape(*shapes[k], ds.image_cfg) + (k,))
    out: list[tuple[list[int], float]] = [([], 0.0)] * len(ds)
    vocab = ds.vocab
    model.eval()
    for s in range(0, len(order), batch_size):
        ks = order[s : s + batch_size]
        arrays = [ds[k][1] for k in ks]
        images, mask = collate_images(arrays, ds.image_cfg.bucket)
        hyps = decode(model, images.to(device), mask.to(device), dcfg, vocab.bos_id, vocab.eos_id)
        for k, h in zip(ks, hyps):
            out[k] = (h.tokens, h.score)
        if advance is not None:
            advance(len(ks))
    return out


def ids_to_text(vocab: Vocab, ids: list[int]) -> str:
    return " ".join(vocab.decode(ids))


def evaluate(
    model_dir: str | Path,
    source: Split,
    beam: int = 5,
    limit: int | None = None,
    batch_size: int = 32,
    out_dir: str | Path | None = None,
    progress: bool = True,
    device: str = "auto",
    max_len: int = 200,
    max_tokens: int = 10_000,
    scale: float | None = 1.0,
) -> dict[str, Any]:
    """Decode `source` (the first `limit` items) with the model in `model_dir` and score it.

    Returns the report dict (bleu, edit_accuracy, mean_edit_distance, exact_match, count, beam,
    seconds, images_per_s, model_dir). With `out_dir`, writes predictions.tsv (name, ref, hyp)
    and report.json there. `scale` goes to images.preprocess: 1.0 for renders at the training look,
    None to estimate each image's glyph size (photos, screenshots).
    """
    from img2tex.checkpoint import load_model
    from img2tex.progress import progress_bar

    dev = pick_device(device)
    model, vocab, image_cfg = load_model(model_dir, dev)
    ds = SplitDataset(source, vocab, image_cfg, max_tokens=max_tokens, scale=scale, limit=limit)
    dcfg = DecodeConfig(beam=beam, max_len=max_len)
    t0 = time.perf_counter()
    if progress:
        with progress_bar(f"decoding (beam {beam})", len(ds)) as advance:
            results = decode_dataset(model, ds, dcfg, batch_size, dev, advance)
    else:
        results = decode_dataset(model, ds, dcfg, batch_size, dev)
    seconds = time.perf_counter() - t0
    refs = [ds.formula(k) for k in range(len(ds))]
    hyps = [ids_to_text(vocab, ids) for ids, _ in results]
    report: dict[str, Any] = dict(score(refs, hyps))
    report.update(
        beam=beam, seconds=round(seconds, 3), images_per_s=round(len(ds) / seconds, 2) if seconds > 0 else 0.0,
        model_dir=str(model_dir), skipped_long=(len(source) if limit is None else min(limit, len(source))) - len(ds),
    )
    if out_dir is not None:
        out = Path(out_dir)
        lines = ["name\tref\thyp"] + [f"{ds.name(k)}\t{refs[k]}\t{hyps[k]}" for k in range(len(ds))]
        atomic_write_text(out / "predictions.tsv", "\n".join(lines) + "\n")
        atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report
