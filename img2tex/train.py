"""Training loop: teacher forcing, cross-entropy, Adam, warmup + cosine schedule, checkpoints.

Run folder layout:
    config.json        train, model and image settings of the run
    log.jsonl          one line per log interval ("train") and per epoch ("epoch")
    loss.png           train and validation loss curves
    last/              model folder + training state, rewritten every `checkpoint_every` steps,
                       at each epoch end and on Ctrl-C; `resume=True` continues from here exactly
    best/              model folder of the epoch with the best validation BLEU (or loss)
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from img2tex.checkpoint import load_training_state, save_model, save_training_state
from img2tex.decoding import DecodeConfig
from img2tex.errors import ModelError
from img2tex.evaluate import decode_dataset, ids_to_text, pick_device
from img2tex.fileio import atomic_write_bytes, atomic_write_text
from img2tex.images import ImageConfig
from img2tex.metrics import score
from img2tex.architecture import ModelConfig
from img2tex.model import Img2TexModel, count_parameters
from img2tex.modelfile import load_config
from img2tex.data.split import Split
from img2tex.data.pipeline import BucketBatchSampler, Collate, SplitDataset
from img2tex.vocab import Vocab, build_vocab


@dataclass
class TrainConfig:
    """Defaults follow im2markup (batch 24, 15 epochs, lr 1e-3 Adam, clip 5)."""

    batch_size: int = 24
    epochs: int = 15
    lr: float = 1e-3
    min_lr: float = 1e-5  # cosine floor
    warmup_steps: int = 500
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    #: bf16 autocast: "auto" = on CUDA only; "on" also on a CPU with native bf16 (AVX512-BF16/AMX),
    #: where one training step of the cpu preset ran ~1.4x faster single-threaded (2-core EPYC); "off".
    bf16: str = "auto"
    max_tokens: int = 150  # longer training formulas are skipped
    val_size: int = 500  # validation subset (first N items) for loss and greedy BLEU
    val_batch_size: int = 48
    decode_max_len: int = 200
    select_by: str = "bleu"  # bleu | loss: which checkpoint is "best"
    log_every: int = 50  # steps
    checkpoint_every: int = 1000  # steps
    num_workers: int = 0  # DataLoader workers; loading+preprocessing a render takes ~0.4 ms vs ~11 ms of training per image (measured), so on 2 cores a worker would only steal compute; use 2-4 on a GPU machine
    min_count: int = 1  # vocabulary: tokens seen fewer times become <unk>
    max_steps: int | None = None  # stop early (and checkpoint) after this many steps in total
    scale: float | None = 1.0  # images.preprocess scale: 1.0 = renders already at the reference look
    #: Half the training images resized by up to (1 + j)x either way, then read with the glyph-size
    #: estimate as predict reads them (pipeline.SplitDataset); 0 = off. None = off, and on a
    #: resume: keep the saved setting.
    scale_jitter: float | None = None
    jitter_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.bf16 not in ("auto", "on", "off"):
            raise ModelError(f"bf16 must be auto, on or off, not {self.bf16!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr at `total` steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * frac))


def token_loss(logits: torch.Tensor, target: torch.Tensor, pad_id: int, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over non-padding target tokens."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )


# -- loss curve -------------------------------------------------------------------------------


def draw_loss_curve(train: list[tuple[int, float]], val: list[tuple[int, float]], width: int = 800, height: int = 480) -> bytes:
    """PNG of train (blue) and validation (orange) loss against step, with labelled axes."""
    import io

    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), "white")
    dr = ImageDraw.Draw(im)
    left, right, top, bottom = 70, width - 20, 30, height - 50
    dr.line([(left, top), (left, bottom), (right, bottom)], fill="black", width=1)
    pts = train + val
    if pts:
        xmax = max(1, max(s for s, _ in pts))
        ys = [v for _, v in pts if math.isfinite(v)]
        ymin, ymax = (min(ys), max(ys)) if ys else (0.0, 1.0)
        ymin = min(0.0, ymin)
        if ymax <= ymin:
            ymax = ymin + 1.0

        def xy(s: float, v: float) -> tuple[float, float]:
            return left + (right - left) * s / xmax, bottom - (bottom - top) * (v - ymin) / (ymax - ymin)

        for i in range(5):
            v = ymin + (ymax - ymin) * i / 4
            _, y = xy(0, v)
            dr.line([(left - 4, y), (left, y)], fill="black")
            dr.text((5, y - 6), f"{v:.3g}", fill="black")
            s = xmax * i / 4
            x, _ = xy(s, ymin)
            dr.line([(x, bottom), (x, bottom + 4)], fill="black")
            dr.text((x - 10, bottom + 8), f"{int(s)}", fill="black")
        for series, colour in ((train, (31, 119, 180)), (val, (255, 127, 14))):
            line = [xy(s, v) for s, v in series if math.isfinite(v)]
            if len(line) > 1:
                dr.line(line, fill=colour, width=2)
            for x, y in line if len(line) < 60 else []:
                dr.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    dr.text(((left + right) // 2 - 10, height - 20), "step", fill="black")
    dr.text((left, 8), "loss   ", fill="black")
    dr.text((left + 60, 8), "train", fill=(31, 119, 180))
    dr.text((left + 110, 8), "validation", fill=(255, 127, 14))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _append_log(path: Path, entry: dict[str, Any]) -> None:
    # Append, not atomic rewrite: a log line is small and a torn last line is skipped on read.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


# -- training ---------------------------------------------------------------------------------


class _Run:
    """State of one training run; methods are the steps of `train`."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, model: Img2TexModel, vocab: Vocab, image_cfg: ImageConfig,
                 device: torch.device) -> None:
        self.dir, self.cfg, self.model, self.vocab, self.image_cfg, self.device = run_dir, cfg, model, vocab, image_cfg, device
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.epoch = 0
        self.position = 0
        self.best: float | None = None
        self.log_path = run_dir / "log.jsonl"

    def save_last(self) -> None:
        last = self.dir / "last"
        save_model(last, self.model, self.vocab, self.image_cfg, extra={"step": self.step, "epoch": self.epoch})
        save_training_state(last, self.opt, {
            "step": self.step, "epoch": self.epoch, "position": self.position, "best": self.best,
            "train_config": asdict(self.cfg),
        })

    def draw(self) -> None:
        log = _read_log(self.log_path)
        train = [(e["step"], e["loss"]) for e in log if e.get("kind") == "train"]
        val = [(e["step"], e["val_loss"]) for e in log if e.get("kind") == "epoch" and e.get("val_loss") is not None]
        atomic_write_bytes(self.dir / "loss.png", draw_loss_curve(train, val))


def _autocast(device: torch.device, bf16: str = "auto") -> Any:
    """bf16 mixed precision for the forward pass (weights and optimizer stay float32);
    `bf16` is TrainConfig.bf16, checked there."""
    enabled = bf16 == "on" or (bf16 == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def validate(model: Img2TexModel, ds: SplitDataset, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Teacher-forced loss and greedy-decoding scores on a validation dataset."""
    model.eval()
    collate = Collate(ds.vocab, ds.image_cfg.bucket)
    sampler = BucketBatchSampler.for_dataset(ds, cfg.val_batch_size, shuffle=False)
    total, count = 0.0, 0
    for idx in sampler.batches(0):
        b = collate([ds[k] for k in idx]).to(device)
        with _autocast(device, cfg.bf16):
            logits = model(b.images, b.mask, b.tgt_in)
        n = int((b.tgt_out != ds.vocab.pad_id).sum())
        total += float(token_loss(logits, b.tgt_out, ds.vocab.pad_id)) * n
        count += n
    results = decode_dataset(model, ds, DecodeConfig(beam=1, max_len=cfg.decode_max_len), cfg.val_batch_size, device)
    refs = [ds.formula(k) for k in range(len(ds))]
    hyps = [ids_to_text(ds.vocab, ids) for ids, _ in results]
    s = score(refs, hyps)
    return {"val_loss": total / max(count, 1), "val_bleu": s["bleu"], "val_exact": s["exact_match"],
            "val_edit_accuracy": s["edit_accuracy"]}


def train(
    train_source: Split,
    val_source: Split | None,
    run_dir: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    image_cfg: ImageConfig | None = None,
    vocab: Vocab | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a model; returns a summary (status 'done', 'stopped' at max_steps, or 'interrupted'
    by Ctrl-C, with step, epoch, best score, paths). With `resume`, settings, vocabulary and
    weights come from run_dir/last and training continues where it stopped."""
    run = Path(run_dir)
    last = run / "last"
    if resume:
        if not (last / "train_state.json").exists():
            raise ModelError(f"nothing to resume: {last} holds no training state")
        meta = json.loads((last / "train_state.json").read_text(encoding="utf-8"))["state"]
        saved_cfg = TrainConfig.from_dict(meta["train_config"])
        if cfg is not None:  # allow extending a run (more epochs / steps, new jitter), keep the rest
            saved_cfg.epochs, saved_cfg.max_steps = cfg.epochs, cfg.max_steps
            if cfg.scale_jitter is not None:
                saved_cfg.scale_jitter = cfg.scale_jitter
        cfg = saved_cfg
        model_cfg, image_cfg, _ = load_config(last)
        vocab = Vocab.load(last / "vocab.json")
    cfg = cfg or TrainConfig()
    image_cfg = image_cfg or ImageConfig()
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if vocab is None:
        vocab = build_vocab((train_source.formula(i).split() for i in range(len(train_source))), min_count=cfg.min_count)
    model_cfg = model_cfg or ModelConfig()
    model_cfg.vocab_size = len(vocab)
    model = Img2TexModel(model_cfg).to(device)
    r = _Run(run, cfg, model, vocab, image_cfg, device)
    if resume:
        from img2tex.checkpoint import load_model

        loaded, _, _ = load_model(last, device)
        model.load_state_dict(loaded.state_dict())
        st = load_training_state(last, r.opt)
        r.step, r.epoch, r.position, r.best = st["step"], st["epoch"], st["position"], st["best"]
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / "config.json", json.dumps(
        {"train": asdict(cfg), "model": model_cfg.to_dict(), "image": asdict(image_cfg),
         "parameters": count_parameters(model)}, indent=2) + "\n")

    train_ds = SplitDataset(train_source, vocab, image_cfg, max_tokens=cfg.max_tokens, scale=cfg.scale,
                              scale_jitter=cfg.scale_jitter or 0.0, jitter_prob=cfg.jitter_prob, seed=cfg.seed)
    if len(train_ds) == 0:
        raise ModelError("no training examples (all formulas empty or longer than max_tokens)")
    val_ds = (SplitDataset(val_source, vocab, image_cfg, max_tokens=10_000, scale=cfg.scale, limit=cfg.val_size)
              if val_source is not None and cfg.val_size > 0 else None)
    sampler = BucketBatchSampler.for_dataset(train_ds, cfg.batch_size, seed=cfg.seed)
    # A private generator: DataLoader draws its worker base seed from it, not from the global
    # RNG, so a resumed run sees the same dropout masks as an uninterrupted one.
    loader = DataLoader(train_ds, batch_sampler=sampler, collate_fn=Collate(vocab, image_cfg.bucket),
                        num_workers=cfg.num_workers, generator=torch.Generator().manual_seed(cfg.seed),
                        pin_memory=device.type == "cuda")
    steps_per_epoch = len(sampler)
    total_steps = steps_per_epoch * cfg.epochs
    status = "done"

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from img2tex.progress import stderr_console

    bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.3f}  {task.fields[sps]:.0f} samples/s  {task.fields[tps]:.0f} tok/s"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(), disable=not progress)
    win_loss, win_n, win_samples, win_tokens, win_t0 = 0.0, 0, 0, 0, time.perf_counter()
    try:
        with bar:
            task = bar.add_task("train", total=steps_per_epoch, epoch=r.epoch + 1, loss=float("nan"), sps=0.0, tps=0.0)
            while r.epoch < cfg.epochs:
                sampler.set_epoch(r.epoch, r.position)
                train_ds.set_epoch(r.epoch)
                bar.update(task, completed=r.position, epoch=f"{r.epoch + 1}/{cfg.epochs}")
                for batch in loader:
                    if cfg.max_steps is not None and r.step >= cfg.max_steps:
                        break
                    batch = batch.to(device)
                    for g in r.opt.param_groups:
                        g["lr"] = lr_at(r.step, total_steps, cfg)
                    model.train()
                    with _autocast(device, cfg.bf16):
                        logits = model(batch.images, batch.mask, batch.tgt_in)
                    loss = token_loss(logits, batch.tgt_out, vocab.pad_id, cfg.label_smoothing)
                    r.opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    r.opt.step()
                    r.step += 1
                    r.position += 1
                    lv = float(loss.detach())
                    win_loss += lv
                    win_n += 1
                    win_samples += batch.images.shape[0]
                    win_tokens += int((batch.tgt_out != vocab.pad_id).sum())
                    if r.step % cfg.log_every == 0:
                        dt = max(time.perf_counter() - win_t0, 1e-9)
                        entry = {"kind": "train", "step": r.step, "epoch": r.epoch, "loss": win_loss / win_n,
                                 "last_loss": lv, "lr": r.opt.param_groups[0]["lr"],
                                 "samples_per_s": win_samples / dt, "tokens_per_s": win_tokens / dt}
                        _append_log(r.log_path, entry)
                        bar.update(task, loss=entry["loss"], sps=entry["samples_per_s"], tps=entry["tokens_per_s"])
                        win_loss, win_n, win_samples, win_tokens, win_t0 = 0.0, 0, 0, 0, time.perf_counter()
                    bar.update(task, advance=1)
                    if r.step % cfg.checkpoint_every == 0:
                        r.save_last()
                if cfg.max_steps is not None and r.step >= cfg.max_steps and r.position < steps_per_epoch:
                    status = "stopped"
                    break
                entry: dict[str, Any] = {"kind": "epoch", "epoch": r.epoch + 1, "step": r.step}
                if val_ds is not None and len(val_ds):
                    entry.update(validate(model, val_ds, cfg, device))
                    value = entry["val_bleu"] if cfg.select_by == "bleu" else -entry["val_loss"]
                    if r.best is None or value > r.best:
                        r.best = value
                        save_model(run / "best", model, vocab, image_cfg, extra={"epoch": r.epoch + 1, "step": r.step, **{
                            k: v for k, v in entry.items() if k.startswith("val_")}})
                else:
                    save_model(run / "best", model, vocab, image_cfg, extra={"epoch": r.epoch + 1, "step": r.step})
                _append_log(r.log_path, entry)
                r.epoch += 1
                r.position = 0
                r.save_last()
                r.draw()
                bar.console.print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()))
        if status == "stopped":
            r.save_last()
    except KeyboardInterrupt:
        status = "interrupted"
        r.save_last()
    if r.log_path.exists():
        r.draw()
    return {"status": status, "step": r.step, "epoch": r.epoch, "best": r.best, "run_dir": str(run),
            "best_dir": str(run / "best"), "last_dir": str(last), "parameters": count_parameters(model)}
