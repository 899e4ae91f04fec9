"""What scale jitter costs in training, batched by stored size (before) and by real size (now).

`--scale-jitter` shows half the images resized and read back through the glyph-size rescale,
which decides their final size. Batches are formed from image sizes; this script compares, on the
same images, the same model and the same number of steps:

  plain     no jitter (batches from stored sizes, which are the real sizes)
  stored    jitter, batches from the stored sizes (img2tex before 2026-11-25)
  prepared  jitter, the epoch's jittered images prepared ahead and batched by their real size

and reports padded / real pixels over the epoch's batches and training images/s (cpu preset,
bf16 autocast on a CPU that has it, batch 32; preparation time included in the rate).

    python benchmarks/jitter_batches.py ../work/mix/*/packed --per-part 1000 --steps 120
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import RESULTS, describe, write_json  # noqa: E402

from img2tex.data.layout import open_split  # noqa: E402
from img2tex.data.pipeline import BucketBatchSampler, Collate, SplitDataset  # noqa: E402
from img2tex.data.split import ConcatSplit  # noqa: E402
from img2tex.fileio import atomic_write_text  # noqa: E402
from img2tex.images import ImageConfig  # noqa: E402
from img2tex.network.config import cpu_config  # noqa: E402
from img2tex.network.model import Img2TexModel  # noqa: E402
from img2tex.training.config import TrainConfig
from img2tex.training.trainer import autocast, make_optimizer, token_loss  # noqa: E402
from img2tex.vocab import build_vocab  # noqa: E402


class Head:
    """The first `n` items of a split (a sample of each rendering pipeline)."""

    def __init__(self, split, n: int) -> None:
        self.split, self.n = split, min(n, len(split))

    def __len__(self) -> int:
        return self.n

    def formula(self, i: int) -> str:
        return self.split.formula(i)

    def name(self, i: int) -> str:
        return self.split.name(i)

    def image(self, i: int) -> np.ndarray:
        return self.split.image(i)

    def shape(self, i: int) -> tuple[int, int]:
        return self.split.shape(i)


def run(mode: str, split, vocab, steps: int, batch: int, bf16: str) -> dict[str, float]:
    jitter = 0.0 if mode == "plain" else 0.6
    ds = SplitDataset(split, vocab, ImageConfig(), scale_jitter=jitter, replace_unreadable=True)
    t0 = time.perf_counter()
    sampler = BucketBatchSampler.for_dataset(ds, batch, seed=0)
    if mode == "stored":
        sampler.epoch_keys = None  # as before: keys from the stored sizes, items jittered when read
    else:
        ds.set_epoch(0)  # prepares the jittered images (mode "prepared")
    batches = sampler.batches(0)
    prepare_s = time.perf_counter() - t0
    collate = Collate(vocab, ds.image_cfg.bucket)
    torch.manual_seed(0)
    cfg = cpu_config(len(vocab))
    model = Img2TexModel(cfg).to(memory_format=torch.channels_last)
    opt = make_optimizer(model.parameters(), TrainConfig())
    padded = real = 0
    t1 = time.perf_counter()
    images = 0
    for b in batches[:steps]:
        items = [ds[k] for k in b]
        bt = collate(items)
        padded += bt.images.shape[0] * bt.images.shape[2] * bt.images.shape[3]
        real += sum(a.size for _, a, _ in items)
        with autocast(torch.device("cpu"), bf16):
            logits = model(bt.images, bt.mask, bt.tgt_in)
        loss = token_loss(logits, bt.tgt_out, vocab.pad_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        images += len(b)
    train_s = time.perf_counter() - t1
    # Preparation is paid once an epoch: charge this run its share of the epoch.
    share = min(1.0, steps / max(1, len(batches)))
    return {
        "images": images,
        "padded_over_real": round(padded / real, 2),
        "prepare_s_per_epoch": round(prepare_s, 1),
        "train_images_per_s": round(images / train_s, 1),
        "images_per_s_with_prepare": round(images / (train_s + share * prepare_s), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="+", type=Path, help="packed training folders (e.g. the mix's parts)")
    ap.add_argument("--per-part", type=int, default=1000, help="items taken from the start of each folder")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--modes", default="plain,stored,prepared")
    ap.add_argument("--out", type=Path, default=RESULTS / "jitter_batches")
    args = ap.parse_args()
    split = ConcatSplit([Head(open_split(d, "train"), args.per_part) for d in args.data])
    vocab = build_vocab(split.formula(i).split() for i in range(len(split)))
    results = {
        "machine": describe(),
        "torch_threads": torch.get_num_threads(),
        "command": "python benchmarks/jitter_batches.py " + " ".join(sys.argv[1:]),
        "items": len(split),
        "modes": {},
    }
    for mode in args.modes.split(","):
        results["modes"][mode] = r = run(mode, split, vocab, args.steps, args.batch_size, args.bf16)
        print(mode, r, file=sys.stderr, flush=True)
    lines = [
        "# Scale jitter: batches by stored size or by real size",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {json.dumps(results['machine'])}, {results['torch_threads']} torch threads. "
        f"{results['items']} training images (the first {args.per_part} of each folder), cpu preset, batch "
        f"{args.batch_size}, bf16 {args.bf16}, {args.steps} steps per mode from the same initial weights, "
        "one run. Preparation (mode prepared) is paid once an epoch; the last column charges these steps "
        "their share of it.",
        "",
        "| mode | padded / real pixels | train images/s | preparation s/epoch | images/s incl. preparation |",
        "|---|---|---|---|---|",
    ]
    for mode, r in results["modes"].items():
        lines.append(
            f"| {mode} | {r['padded_over_real']} | {r['train_images_per_s']} | {r['prepare_s_per_epoch']} | "
            f"{r['images_per_s_with_prepare']} |"
        )
    write_json(args.out.with_suffix(".json"), results)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
