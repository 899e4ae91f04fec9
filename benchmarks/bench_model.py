"""Model speed on this machine: training throughput, decoding speed, parameter count, side by side.

Synthetic but realistic batches: formula lengths drawn from the im2latex sample's normalized
formulas (mean ~55 tokens once formulas over 150 tokens are dropped, as training does), all items
of a batch of similar length (as the bucketed sampler makes them), images 48 px high and about
2.4 px wide per token. Decoding runs an untrained model for a fixed number of steps (loop guard
off), i.e. the cost of emitting a formula of that length.

Configurations are timed in turns (round 1: A B C, round 2: A B C, ...) on the same batches and
the median round is reported, so a drift in the machine's speed hits all of them alike.

    python benchmarks/bench_model.py --data-dir ../shared/data                  # feeding vs parallel
    python benchmarks/bench_model.py --data-dir ../shared/data --cells lstm,gru --decoders parallel
    python benchmarks/bench_model.py --data-dir ../shared/data --preset paper --out-name bench_model_paper
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder
from machine import write_results

from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.search import decode
from img2tex.decoding.torch_engine import TorchEngine
from img2tex.device import bf16_enabled
from img2tex.network.config import PRESETS
from img2tex.network.model import Img2TexModel, count_parameters
from img2tex.training.config import TrainConfig
from img2tex.training.trainer import make_optimizer, token_loss

VOCAB = 500
SAMPLE = "im2latex-100k/sample/formulas.norm.lst"  # under --data-dir


def lengths(n: int, rng: random.Random, sample: Path) -> list[int]:
    """Formula lengths drawn from the im2latex sample, as training sees them (<= 150 tokens)."""
    text = sample.read_text("utf-8", "replace")
    pool = [k for k in (len(line.split()) for line in text.splitlines()) if 0 < k <= 150]
    return [rng.choice(pool) for _ in range(n)]


def make_batch(batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = min(800, -(-int(16 + 2.4 * length) // 16) * 16)
    images = torch.rand(batch, 1, 48, width).lt(0.1).float()
    mask = torch.ones(batch, 48, width, dtype=torch.bool)
    tokens = torch.randint(4, VOCAB, (batch, length + 1))
    return images, mask, tokens


class Trainer:
    """One configuration's model and optimizer, stepping as training does (bf16 autocast on the
    forward pass, clipped gradients, Adam)."""

    def __init__(self, model: Img2TexModel, bf16: bool, compiled: bool = False) -> None:
        self.model = model.to(memory_format=torch.channels_last)
        self.opt = make_optimizer(model.parameters(), TrainConfig())
        self.bf16 = bf16
        self.forward = torch.compile(self.model, dynamic=True) if compiled else self.model

    def step(self, images: torch.Tensor, mask: torch.Tensor, tok: torch.Tensor) -> None:
        self.model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(images, mask, tok[:, :-1])
        loss = token_loss(logits, tok[:, 1:], 0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()


def bench_decode(model: Img2TexModel, beam: int, batch: int, n_batches: int, length: int) -> float:
    cfg = DecodeConfig(beam=beam, max_len=length, loop_tokens=10**6)
    engine = TorchEngine(model)
    images, mask, _ = make_batch(batch, length)
    images, mask = images.numpy(), mask.numpy()
    decode(engine, images, mask, cfg, 1, VOCAB + 10)  # warm-up; EOS id out of range: never ends early
    t0 = time.perf_counter()
    for _ in range(n_batches):
        decode(engine, images, mask, cfg, 1, VOCAB + 10)
    return batch * n_batches / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    ap.add_argument("--cells", default="lstm")
    ap.add_argument(
        "--decoders",
        default="feeding,parallel",
        help="variants to compare: a decoder kind, optionally with +fp32 (no bf16), +bNN (batch NN), "
        "+compile (torch.compile), +aNN (attention width NN), e.g. parallel,parallel+b48,parallel+a32",
    )
    ap.add_argument(
        "--bf16",
        choices=["auto", "on", "off"],
        default="auto",
        help="bf16 autocast in training steps (auto: where this CPU has native bf16, as img2tex train)",
    )
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds (each config in turn)")
    ap.add_argument("--steps", type=int, default=4, help="training steps per config per round")
    ap.add_argument("--decode-len", type=int, default=60)
    ap.add_argument("--no-decode", action="store_true", help="skip the decoding timings")
    ap.add_argument("--out-name", default="bench_model_cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    add_data_dir(ap)
    args = ap.parse_args()
    sample = data_file(args.data_dir, SAMPLE)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = [(c, d) for c in args.cells.split(",") for d in args.decoders.split(",")]
    trainers, results, sizes = {}, {}, {}
    for cell, variant in configs:
        decoder, *mods = variant.split("+")
        batch = next((int(m[1:]) for m in mods if m.startswith("b")), args.batch)
        bf16 = bf16_enabled(torch.device("cpu"), args.bf16) and "fp32" not in mods
        torch.manual_seed(0)
        cfg = PRESETS[args.preset](VOCAB)
        cfg.cell, cfg.decoder = cell, decoder
        cfg.attn_dim = next((int(m[1:]) for m in mods if m.startswith("a")), cfg.attn_dim)
        key = (cell, variant)
        trainers[key], sizes[key] = Trainer(Img2TexModel(cfg), bf16, "compile" in mods), batch
        results[key] = {
            "preset": args.preset,
            "cell": cell,
            "decoder": variant,
            "bf16": "on" if bf16 else "off",
            "parameters": count_parameters(trainers[key].model),
            "config": cfg.to_dict(),
            "batch": batch,
            "rounds": [],
        }
    rng = random.Random(0)
    lens = [lengths(args.steps, rng, sample) for _ in range(args.rounds)]
    batches = {n: [[make_batch(n, k) for k in ls] for ls in lens] for n in set(sizes.values())}
    for key, t in trainers.items():  # warm-up (and compilation)
        t.step(*batches[sizes[key]][0][0])
        t.step(*batches[sizes[key]][0][1 % args.steps])
    for r in range(args.rounds):
        for key, t in trainers.items():
            round_batches = batches[sizes[key]][r]
            t0 = time.perf_counter()
            for b in round_batches:
                t.step(*b)
            dt = time.perf_counter() - t0
            samples = sum(b[0].shape[0] for b in round_batches)
            tokens = sum(b[2].numel() for b in round_batches)  # targets incl. EOS: length + 1 per image
            results[key]["rounds"].append({"samples_per_s": samples / dt, "tokens_per_s": tokens / dt})
    for key, res in results.items():
        res["train_samples_per_s"] = statistics.median(x["samples_per_s"] for x in res["rounds"])
        res["train_tokens_per_s"] = statistics.median(x["tokens_per_s"] for x in res["rounds"])
        if not args.no_decode:
            model = trainers[key].model
            res["greedy_images_per_s"] = bench_decode(model, 1, 32, 3, args.decode_len)
            res["beam5_images_per_s"] = bench_decode(model, 5, 32, 1, args.decode_len)
        print(json.dumps({k: v for k, v in res.items() if k not in ("config", "rounds")}), flush=True)
    mean_tokens = statistics.mean(k + 1 for ls in lens for k in ls)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_at_end": os.getloadavg(),
    }
    rows = list(results.values())
    lines = [
        f"# Model benchmark ({args.preset} preset)",
        "",
        f"Machine: {machine['platform']}, {machine['cpu_count']} cores, torch {machine['torch']} "
        f"({machine['torch_threads']} threads); load average at end {machine['load_average_at_end'][0]:.1f}.",
        "",
        f"Command: `python benchmarks/bench_model.py {' '.join(sys.argv[1:])}`",
        "",
        f"Training: batch {args.batch} unless the variant says (+bNN), the preset's attention width unless "
        f"+aNN, bf16 autocast {args.bf16} unless +fp32, "
        "channels-last encoder, target lengths drawn "
        f"from im2latex (mean {mean_tokens:.0f} tokens with EOS), 48 px high images; median of {args.rounds} "
        f"rounds of {args.steps} steps, configurations in turn. Decoding: batches of 32, {args.decode_len} "
        "tokens per image, torch engine.",
        "",
        "| cell | variant | parameters | train samples/s | train tokens/s | greedy images/s | beam-5 images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['cell']} | {r['decoder']} | {r['parameters']:,} | {r['train_samples_per_s']:.0f} "
            f"| {r['train_tokens_per_s']:.0f} | {r.get('greedy_images_per_s', 0):.0f} "
            f"| {r.get('beam5_images_per_s', 0):.1f} |"
        )
    write_results(args.out_name, {"machine": machine, "results": rows}, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
