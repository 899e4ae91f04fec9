"""Where one training step's time goes, per part: data loading, encoder, attention, recurrence,
output layer and loss, backward, optimizer.

    python benchmarks/profile_step.py --data DIR [--decoder feeding|parallel] [--steps 8]

DIR is rendered training data in any layout (`img2tex render` output, packed or not). Batches come
from the real pipeline (SplitDataset, bucketed sampler, Collate), so data loading is measured as
training does it. torch.profiler records every operator; each is assigned to the part of the step
it belongs to by the module that ran it (forward) or by its phase (backward, optimizer, data).
Writes benchmarks/results/profile_step_<decoder>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from machine import write_results  # benchmarks/ is the script's folder
from torch.profiler import ProfilerActivity, profile, record_function

from img2tex.data.dataset import SplitDataset
from img2tex.data.layout import open_split
from img2tex.data.pipeline import BucketBatchSampler, Collate
from img2tex.device import bf16_enabled
from img2tex.images import ImageConfig
from img2tex.network.config import PRESETS
from img2tex.network.model import Img2TexModel
from img2tex.training.config import TrainConfig
from img2tex.training.trainer import make_optimizer, token_loss
from img2tex.vocab import build_vocab

#: Forward parts: the model's methods and submodules that compute each (none nested in another).
PARTS = {
    "encoder (convolutions, positions, attention keys)": ("encode",),
    "attention": ("_attend", "_attend_all"),
    "recurrence": ("rnn", "rnn2", "embed", "init_state"),
    "output layer": ("_output",),
}


def label_parts(model: Img2TexModel) -> None:
    """Wrap each part's method (or submodule forward) in a record_function named after the part."""
    for part, names in PARTS.items():
        for name in names:
            target = getattr(model, name, None)
            if target is None:
                continue
            owner, attr = (target, "forward") if isinstance(target, torch.nn.Module) else (model, name)
            fn = getattr(owner, attr)

            def wrapped(*args, _f=fn, _p=part, **kw):  # noqa: ANN002, ANN003
                with record_function(f"part:{_p}"):
                    return _f(*args, **kw)

            setattr(owner, attr, wrapped)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--decoder", default="feeding", choices=["feeding", "parallel"])
    ap.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    args = ap.parse_args()
    split = open_split(args.data, args.split)
    vocab = build_vocab(split.formula(i).split() for i in range(len(split)))
    ds = SplitDataset(split, vocab, ImageConfig())
    sampler = BucketBatchSampler.for_dataset(ds, args.batch, seed=0)
    collate = Collate(vocab, ImageConfig().bucket)
    batches = sampler.batches(0)
    if len(batches) < args.steps + 2:
        raise SystemExit(f"error: {args.data} gives {len(batches)} batches; need {args.steps + 2}")
    torch.manual_seed(0)
    cfg = PRESETS[args.preset](len(vocab))
    cfg.decoder = args.decoder
    model = Img2TexModel(cfg).to(memory_format=torch.channels_last)
    label_parts(model)
    opt = make_optimizer(model.parameters(), TrainConfig())
    bf16 = bf16_enabled(torch.device("cpu"), args.bf16)

    def step(idx: list[int]) -> None:
        with record_function("phase:data"):
            b = collate([ds[k] for k in idx])
        model.train()
        with record_function("phase:forward"), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(b.images, b.mask, b.tgt_in)
        with record_function("part:loss"):
            loss = token_loss(logits, b.tgt_out, vocab.pad_id)
        with record_function("phase:backward"):
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("phase:optimizer"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()

    for idx in batches[:2]:
        step(idx)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for idx in batches[2 : 2 + args.steps]:
            step(idx)
    wall = (time.perf_counter() - t0) / args.steps
    totals: dict[str, float] = defaultdict(float)
    for ev in prof.events():
        if ev.name.startswith(("part:", "phase:")):
            totals[ev.name] += ev.cpu_time_total / 1e3 / args.steps  # ms per step
    forward_parts = sum(v for k, v in totals.items() if k.startswith("part:")) - totals.get("part:loss", 0.0)
    rows = [("data loading (preprocess + collate)", totals["phase:data"])]
    rows += [(k[5:], v) for k, v in sorted(totals.items()) if k.startswith("part:")]
    rows += [
        ("forward, other (masks, glue)", max(0.0, totals["phase:forward"] - forward_parts)),
        ("backward (all parts)", totals["phase:backward"]),
        ("optimizer (clip + Adam)", totals["phase:optimizer"]),
    ]
    top = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    machine = {
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    result = {
        "machine": machine,
        "command": " ".join(sys.argv),
        "decoder": args.decoder,
        "batch": args.batch,
        "bf16": args.bf16,
        "wall_ms_per_step": wall * 1e3,
        "parts_ms": dict(rows),
    }
    name = f"profile_step_{args.decoder}"
    total = sum(v for _, v in rows)
    lines = [
        f"# One training step, {args.decoder} decoder ({args.preset} preset)",
        "",
        f"Machine: {machine}",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"Batch {args.batch} real renders, bf16 autocast {args.bf16}, channels-last encoder; "
        f"{wall * 1e3:.0f} ms per step wall time (profiler on), mean of {args.steps} steps.",
        "",
        "| part | ms per step | share |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} | {v / total:.0%} |" for k, v in rows]
    lines += ["", "Operators by self CPU time:", "", "```", top, "```"]
    write_results(name, result, lines)
    print("\n".join(lines[: 12 + len(rows)]))


if __name__ == "__main__":
    main()
