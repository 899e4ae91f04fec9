"""Does `torch.compile` make a CPU training step faster, once its compile time is paid?

    python benchmarks/compile_step.py --data ../work/train_a/packed --batches 40 --rounds 3

Issue 11 names `torch.compile` of the attention or the step as a throughput lever. The first
measurement (`bench_levers_cpu.md`, 2 samples/s) timed 4 steps with the compile inside them, so it
said what compiling costs, not what a compiled step is worth. This one separates the two:

* the same real batches (the training pipeline's bucketed shapes, so as many shapes as training
  meets in that many steps), the `cpu` preset, bf16 autocast, batch 16;
* one model per mode, from the same initial weights, each with its own Adam: `eager`; `encoder`
  (the convolution stack compiled, where inductor can fuse batchnorm, ReLU and the padding mask);
  `model` (the whole forward: encoder, attention and the glue between the fused LSTM calls);
* a first pass over the batches per mode, timed as the compile cost (it compiles each new shape
  until dynamo's recompile limit, then runs the rest eagerly), then --rounds passes in turn, so a
  drift in the machine's speed falls on every mode alike.

Results: benchmarks/results/<out-name>.{json,md}. Nothing else may run meanwhile.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from machine import describe, write_results  # benchmarks/ is the script's folder

from img2tex.data.dataset import SplitDataset
from img2tex.data.layout import open_split
from img2tex.data.pipeline import BucketBatchSampler, Collate
from img2tex.images import ImageConfig
from img2tex.network.config import PRESETS
from img2tex.network.model import Img2TexModel
from img2tex.training.config import TrainConfig
from img2tex.training.trainer import make_optimizer, token_loss
from img2tex.vocab import Vocab

MODES = ("eager", "encoder", "model")


def build(mode: str, base: Img2TexModel) -> tuple[Img2TexModel, torch.nn.Module]:
    """A copy of `base` and the callable that runs its forward in this mode."""
    model = copy.deepcopy(base)
    if mode == "encoder":
        model.encoder = torch.compile(model.encoder, dynamic=True)  # type: ignore[assignment]
    return model, (torch.compile(model, dynamic=True) if mode == "model" else model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="packed training renders")
    ap.add_argument("--vocab", type=Path, help="vocab.json (default: DATA/../../vocab.json)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out-name", default="compile_step")
    args = ap.parse_args()
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        raise SystemExit(f"error: unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    vocab = Vocab.from_dict(json.loads((args.vocab or args.data.parent.parent / "vocab.json").read_text()))
    ds = SplitDataset(open_split(args.data, args.split), vocab, ImageConfig())
    collate = Collate(vocab, ImageConfig().bucket)
    order = BucketBatchSampler.for_dataset(ds, args.batch, seed=0).batches(0)[: args.batches]
    batches = [collate([ds[k] for k in idx]) for idx in order]
    shapes = len({(tuple(b.images.shape), b.tgt_in.shape[1]) for b in batches})
    tokens = sum(int((b.tgt_out != vocab.pad_id).sum()) for b in batches)
    samples = sum(b.images.shape[0] for b in batches)

    torch.manual_seed(0)
    base = Img2TexModel(PRESETS["cpu"](len(vocab))).to(memory_format=torch.channels_last)
    runs = {m: build(m, base) for m in modes}
    train_cfg = TrainConfig()  # the trainer's own defaults: Adam settings and gradient clipping
    opts = {m: make_optimizer(runs[m][0].parameters(), train_cfg) for m in modes}

    def one_pass(mode: str) -> tuple[float, float]:
        model, net = runs[mode]
        model.train()
        t0 = time.perf_counter()
        for b in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = net(b.images, b.mask, b.tgt_in)
            loss = token_loss(logits, b.tgt_out, vocab.pad_id)
            opts[mode].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
            opts[mode].step()
        return time.perf_counter() - t0, float(loss.detach())

    first = {}
    for m in modes:
        first[m], _ = one_pass(m)
        print(f"{m}: first pass {first[m]:.1f} s", file=sys.stderr, flush=True)
    times: dict[str, list[float]] = {m: [] for m in modes}
    last_loss = {}
    for r in range(args.rounds):
        for m in modes:
            dt, last_loss[m] = one_pass(m)
            times[m].append(dt)
            print(f"round {r + 1} {m}: {samples / dt:.1f} samples/s", file=sys.stderr, flush=True)

    rows = []
    eager_dt = statistics.median(times["eager"]) if "eager" in times else None
    for m in modes:
        dt = statistics.median(times[m])
        rows.append(
            {
                "mode": m,
                "first_pass_s": round(first[m], 1),
                "compile_s": round(first[m] - dt, 1),
                "samples_per_s": round(samples / dt, 1),
                "tokens_per_s": round(tokens / dt),
                "vs_eager": round(eager_dt / dt, 3) if eager_dt else None,
                "last_loss": round(last_loss[m], 4),
            }
        )
    result = {
        "machine": {**describe(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "command": " ".join(sys.argv),
        "batch": args.batch,
        "batches": len(batches),
        "distinct_shapes": shapes,
        "rounds": args.rounds,
        "rows": rows,
    }
    lines = [
        "# `torch.compile` of the training step on the CPU",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"{len(batches)} real batches of {args.batch} ({shapes} distinct image and target shapes), `cpu` preset, "
        f"bf16 autocast; the first pass per mode includes its compiles, then {args.rounds} passes in turn "
        "(median shown). compile s = first pass minus a steady pass.",
        "",
        "| mode | first pass s | compile s | samples/s | target tokens/s | vs eager | last loss |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['mode']} | {r['first_pass_s']} | {r['compile_s']} | {r['samples_per_s']} | {r['tokens_per_s']} "
        f"| {r['vs_eager']}x | {r['last_loss']} |"
        for r in rows
    ]
    write_results(args.out_name, result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
