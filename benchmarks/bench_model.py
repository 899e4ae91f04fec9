"""Model speed on this machine: training throughput, decoding speed, parameter count.

Synthetic but realistic batches: formula lengths drawn from the im2latex sample's normalized
formulas (mean ~60 tokens once formulas over 150 tokens are dropped, as training does), all items
of a batch of similar length (as the bucketed sampler makes them), images 48 px high (40 px
formulas rounded to the 16 px bucket) and about 2.4 px wide per token. Decoding runs an untrained
model for a fixed number of steps (loop guard off), i.e. the cost of emitting a formula of that
length.

    python benchmarks/bench_model.py                     # default (cpu) config, LSTM and GRU
    python benchmarks/bench_model.py --preset paper --cells lstm --out-name bench_model_paper
    python benchmarks/bench_model.py --threads 1       # steadier when other jobs share the cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
from data_dir import add_data_dir, data_file  # benchmarks/ is the script's folder

from img2tex.architecture import PRESETS
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.search import decode
from img2tex.decoding.torch_engine import TorchEngine
from img2tex.model import Img2TexModel, count_parameters
from img2tex.train import token_loss

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


def bench_train(
    model: Img2TexModel, batch: int, steps: int, rng: random.Random, sample: Path, bf16: bool
) -> dict[str, float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    lens = lengths(steps + 2, rng, sample)
    samples = tokens = 0
    t0 = 0.0
    for i, length in enumerate(lens):
        if i == 2:  # two warm-up steps
            t0, samples, tokens = time.perf_counter(), 0, 0
        images, mask, tok = make_batch(batch, length)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(images, mask, tok[:, :-1])
        loss = token_loss(logits, tok[:, 1:], 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        samples += batch
        tokens += batch * (length + 1)
    dt = time.perf_counter() - t0
    return {
        "train_samples_per_s": samples / dt,
        "train_tokens_per_s": tokens / dt,
        "mean_target_tokens": tokens / samples,
    }


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
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    ap.add_argument("--cells", default="lstm")
    ap.add_argument("--decoders", default="feeding,parallel", help="decoder kinds to compare")
    ap.add_argument("--bf16", choices=["on", "off"], default="on", help="bf16 autocast in training steps")
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--decode-len", type=int, default=60)
    ap.add_argument("--out-name", default="bench_model_cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    add_data_dir(ap)
    args = ap.parse_args()
    sample = data_file(args.data_dir, SAMPLE)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for cell, decoder in ((c, d) for c in args.cells.split(",") for d in args.decoders.split(",")):
        torch.manual_seed(0)
        cfg = PRESETS[args.preset](VOCAB)
        cfg.cell, cfg.decoder = cell, decoder
        model = Img2TexModel(cfg)
        r: dict[str, object] = {
            "preset": args.preset,
            "cell": cell,
            "decoder": decoder,
            "bf16": args.bf16,
            "parameters": count_parameters(model),
            "config": cfg.to_dict(),
            "batch": args.batch,
        }
        r.update(bench_train(model, args.batch, args.steps, random.Random(0), sample, args.bf16 == "on"))
        r["greedy_images_per_s"] = bench_decode(model, 1, 32, 3, args.decode_len)
        r["beam5_images_per_s"] = bench_decode(model, 5, 32, 1, args.decode_len)
        r["decode_tokens"] = args.decode_len
        print(json.dumps({k: v for k, v in r.items() if k != "config"}))
        results.append(r)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_at_end": os.getloadavg(),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out_name}.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    lines = [
        f"# Model benchmark ({args.preset} preset)",
        "",
        f"Machine: {machine['platform']}, {machine['cpu_count']} cores, torch {machine['torch']} "
        f"({machine['torch_threads']} threads); load average at end {machine['load_average_at_end'][0]:.1f}.",
        "",
        f"Training: batch {args.batch}, target lengths drawn from im2latex (mean "
        f"{results[0]['mean_target_tokens']:.0f} tokens), 48 px high images. Decoding: batches of 32, "
        f"{args.decode_len} tokens per image.",
        "",
        f"Command: `python benchmarks/bench_model.py {' '.join(sys.argv[1:])}` (bf16 autocast {args.bf16}).",
        "",
        "| cell | decoder | parameters | train samples/s | train tokens/s | greedy images/s | beam-5 images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['cell']} | {r['decoder']} | {r['parameters']:,} | {r['train_samples_per_s']:.0f} | {r['train_tokens_per_s']:.0f} | "
            f"{r['greedy_images_per_s']:.0f} | {r['beam5_images_per_s']:.1f} |"
        )
    (out / f"{args.out_name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
