"""Training: teacher forcing, masked cross-entropy, Adam, warm-up + cosine schedule, checkpoints.

Shaped like torchvision's reference trainer: `setup` (or `setup_resume`) builds a `Run`,
`train_one_epoch` runs the steps, `validate` scores the model, `end_epoch` logs, keeps `best/` and
checkpoints, `fit` loops over epochs. `train` and `resume` are the two entry points.

Run folder layout:
    config.json        train, model and image settings of the run
    log.jsonl          one line per log interval ("train") and per epoch ("epoch")
    loss.png           train and validation loss curves
    last/              model folder + training state, rewritten every `checkpoint_every` steps,
                       at each epoch end and on Ctrl-C; `resume` continues from here exactly
    best/              model folder of the epoch with the best validation BLEU (or loss)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from img2tex.data.dataset import default_prepare_processes
from img2tex.data.pipeline import Batch, BucketBatchSampler, Collate, SplitDataset
from img2tex.data.split import Split
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.decoding.splits import decode_split
from img2tex.decoding.torch_engine import TorchEngine
from img2tex.device import bf16_enabled, pick_device
from img2tex.errors import ModelError
from img2tex.fileio import atomic_write_text, folder_damage, fresh_folder, seal_folder, swap_folder
from img2tex.images import ImageConfig
from img2tex.network.checkpoint import (
    load_model,
    load_state_tensors,
    load_training_state,
    save_model,
    save_training_state,
)
from img2tex.network.config import ModelConfig
from img2tex.network.folder import load_config, load_vocab
from img2tex.network.model import Img2TexModel, count_parameters
from img2tex.progress import TrainingBar, stderr_console, training_bar
from img2tex.scoring.metrics import score
from img2tex.training import distributed, sequence
from img2tex.training.config import RESUME_CHANGEABLE, TrainConfig
from img2tex.training.distributed import Dist
from img2tex.training.ema import WeightAverage
from img2tex.training.runlog import LOG, append_log, draw_run, trim_log
from img2tex.vocab import Vocab, build_vocab


def lr_at(step: int, total: int, cfg: TrainConfig, done: float | None = None) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr at `total` steps (or, with a time
    budget, at `done` = 1.0, the share of the budget spent)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)) if done is None else min(1.0, done)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * frac))


def make_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Adam:
    """The trainer's Adam, for the trainer and for the benchmarks that time its step.

    foreach: each op of the update runs once over all parameters, not once per tensor (clip +
    Adam 7.3 -> 4.7 ms at the cpu preset on 2 cores). Not fused=True (~2 ms less): on the CPU its
    updates after a resume differ from an uninterrupted run's in the 4th digit, and resume is exact."""
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def token_loss(logits: torch.Tensor, target: torch.Tensor, pad_id: int, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over non-padding target tokens."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        target.reshape(-1),
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )


def autocast(device: torch.device, bf16: str = "auto") -> Any:
    """bf16 mixed precision for the forward pass (weights and optimizer stay float32) where
    `bf16` (TrainConfig.bf16) and the hardware call for it (`device.bf16_enabled`)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_enabled(device, bf16))


# -- set-up -----------------------------------------------------------------------------------


@dataclass
class Progress:
    """Where a run stands; saved with every checkpoint."""

    step: int = 0
    epoch: int = 0  # epochs completed
    position: int = 0  # batches done in the current epoch
    best: float | None = None  # best validation score so far (BLEU, or -loss)
    train_seconds: float = 0.0  # time spent in training steps so far (validation excluded)


@dataclass
class Run:
    """Everything one training run holds; the functions below are its steps."""

    dir: Path
    cfg: TrainConfig
    model: Img2TexModel
    vocab: Vocab
    image_cfg: ImageConfig
    device: torch.device
    opt: torch.optim.Optimizer
    train_ds: SplitDataset
    val_ds: SplitDataset | None
    sampler: BucketBatchSampler
    loader: DataLoader
    dist: Dist = Dist()
    #: Training seconds when this invocation started (for max_minutes).
    started_seconds: float = 0.0
    #: What the training step calls: the model itself, or its DistributedDataParallel wrapper.
    net: torch.nn.Module | None = None
    progress: Progress = dataclasses.field(default_factory=Progress)
    ema: WeightAverage | None = None  # the moving average of the weights, when cfg.ema_decay > 0

    @property
    def total_steps(self) -> int:
        """Where the cosine schedule ends (a time budget ends it by time instead)."""
        if self.cfg.step_budget is not None:
            return self.cfg.step_budget
        return len(self.sampler) * (self.cfg.epochs or 1)  # epochs None: a time budget ends the schedule


def _build(
    run_dir: Path,
    train_split: Split,
    val_split: Split | None,
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    image_cfg: ImageConfig,
    vocab: Vocab,
) -> Run:
    d = Dist.from_env()
    device = distributed.init(d, pick_device(cfg.device))
    bf16_enabled(device, cfg.bf16)  # --bf16 on where bf16 is not native: one line now, not at step 1
    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model_cfg.vocab_size = len(vocab)
    model = Img2TexModel(model_cfg).to(device, memory_format=torch.channels_last)  # see model.Encoder
    if d.active:
        torch.manual_seed(cfg.seed + d.rank)  # but each process its own dropout masks
    opt = make_optimizer(model.parameters(), cfg)
    train_ds = SplitDataset(
        train_split,
        vocab,
        image_cfg,
        max_tokens=cfg.max_tokens,
        scale=cfg.scale,
        scale_jitter=cfg.scale_jitter,
        replace_unreadable=True,
        jitter_prob=cfg.jitter_prob,
        seed=cfg.seed,
        prepare_processes=default_prepare_processes(d.world),
        augment=cfg.augment,
    )
    if len(train_ds) == 0:
        raise ModelError("no training examples (all formulas empty or longer than max_tokens)")
    val_ds = None
    if val_split is not None and cfg.val_size > 0:
        val_ds = SplitDataset(val_split, vocab, image_cfg, max_tokens=10_000, scale=cfg.scale, limit=cfg.val_size)
    sampler = BucketBatchSampler.for_dataset(train_ds, cfg.batch_size, seed=cfg.seed, rank=d.rank, world=d.world)
    # A private generator: DataLoader draws its worker base seed from it, not from the global
    # RNG, so a resumed run sees the same dropout masks as an uninterrupted one.
    loader = DataLoader(
        train_ds,
        batch_sampler=sampler,
        collate_fn=Collate(vocab, image_cfg.bucket),
        num_workers=cfg.num_workers,
        # Not persistent: workers are forked anew each epoch so they see train_ds.set_epoch's draw.
        generator=torch.Generator().manual_seed(cfg.seed),
        pin_memory=device.type == "cuda",
    )
    net: torch.nn.Module = model
    if d.active:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    run = Run(run_dir, cfg, model, vocab, image_cfg, device, opt, train_ds, val_ds, sampler, loader, dist=d, net=net)
    if cfg.ema_decay > 0:
        run.ema = WeightAverage(model, cfg.ema_decay)
    return run


def _write_run_config(run: Run) -> None:
    if not run.dist.is_main:
        return
    run.dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        run.dir / "config.json",
        json.dumps(
            {
                "train": asdict(run.cfg),
                "model": run.model.cfg.to_dict(),
                "image": asdict(run.image_cfg),
                "parameters": count_parameters(run.model),
                "processes": run.dist.world,
            },
            indent=2,
        )
        + "\n",
    )


def setup(
    train_split: Split,
    val_split: Split | None,
    run_dir: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    image_cfg: ImageConfig | None = None,
    vocab: Vocab | None = None,
    init_from: str | Path | None = None,
) -> Run:
    """A new run: the vocabulary is built from the training formulas unless given.

    With `init_from` (a model folder) the run starts from that model: its network, vocabulary,
    image settings (unless `image_cfg` is given: the network reads any resolution, so a
    fine-tune may change the glyph size) and weights, with a fresh optimizer and schedule. For
    fine-tuning on new data, and for continuing a model whose run folder (optimizer state) is gone."""
    cfg = cfg or TrainConfig()
    if init_from is not None:
        if model_cfg is not None or vocab is not None:
            raise ModelError("a run started from a model takes its network and vocabulary from it")
        model_cfg, own_image_cfg, _ = load_config(init_from)
        image_cfg = image_cfg or own_image_cfg
        vocab = load_vocab(init_from, model_cfg)
    if vocab is None:
        vocab = build_vocab((train_split.formula(i).split() for i in range(len(train_split))), min_count=cfg.min_count)
    run = _build(
        Path(run_dir), train_split, val_split, cfg, model_cfg or ModelConfig(), image_cfg or ImageConfig(), vocab
    )
    if init_from is not None:
        loaded, _, _ = load_model(init_from, run.device)
        run.model.load_state_dict(loaded.state_dict())
    _write_run_config(run)
    return run


def setup_resume(
    train_split: Split, val_split: Split | None, run_dir: str | Path, changes: dict[str, Any] | None = None
) -> Run:
    """The run saved in run_dir/last, exactly where it stopped: settings, vocabulary, weights,
    optimizer, RNG states and the position in the epoch (the saved max_steps is dropped).

    `changes` may set the fields of `RESUME_CHANGEABLE`; another field given with a value other
    than the saved one is an error."""
    last = find_checkpoint(Path(run_dir))
    meta = json.loads((last / "train_state.json").read_text(encoding="utf-8"))["state"]
    # max_steps limits one invocation ("stop after N steps in all"), not the run: a resume without
    # it runs to the end.
    cfg = dataclasses.replace(TrainConfig.from_dict(meta["train_config"]), max_steps=None, max_minutes=None)
    for key, value in (changes or {}).items():
        if not hasattr(cfg, key):
            raise ModelError(f"no training setting named {key!r}")
        if key not in RESUME_CHANGEABLE and getattr(cfg, key) != value:
            raise ModelError(
                f"a resumed run keeps its {key} ({getattr(cfg, key)!r}); only "
                f"{', '.join(sorted(RESUME_CHANGEABLE))} can change"
            )
    for key in ("time_budget", "step_budget"):
        if (changes or {}).get(key) is not None and getattr(cfg, key) is None:
            raise ModelError(f"a resumed run keeps its schedule: it has no {key} to change")
    cfg = dataclasses.replace(cfg, **(changes or {}))
    model_cfg, image_cfg, _ = load_config(last)
    run = _build(Path(run_dir), train_split, val_split, cfg, model_cfg, image_cfg, Vocab.load(last / "vocab.json"))
    loaded, _, _ = load_model(last, run.device)
    run.model.load_state_dict(loaded.state_dict())
    st = load_training_state(last, run.opt)
    if run.ema is not None:
        run.ema.shadow = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        if not run.ema.load(load_state_tensors(last)):
            stderr_console().print(f"note: {last} holds no weight average; it starts from these weights")
    saved_world = int(st.get("world", 1))
    if saved_world != run.dist.world and st["position"] > 0:
        raise ModelError(
            f"{last} was saved mid-epoch by {saved_world} training process(es); resume it with as many "
            "(or from an epoch's end)"
        )
    saved_batches = st.get("epoch_batches")
    if saved_batches is not None and st["position"] > 0 and int(saved_batches) != len(run.sampler):
        # The position counts batches of the saved epoch's order; other data orders them otherwise.
        raise ModelError(
            f"{last} was saved mid-epoch ({st['position']} of {saved_batches} batches) on other training data "
            f"({len(run.sampler)} batches an epoch now); resume it on the same data, or from an epoch's end"
        )
    if not distributed.load_rank_rng(last, run.dist, st["step"]):
        stderr_console().print(f"note: {last} holds no random state for rank {run.dist.rank}; it starts afresh")
    run.progress = Progress(st["step"], st["epoch"], st["position"], st["best"], st.get("train_seconds", 0.0))
    if run.dist.is_main:
        dropped = trim_log(run.dir / LOG, st["step"])
        if dropped:
            stderr_console().print(f"note: {LOG}: dropped {dropped} entries logged after step {st['step']}")
    _write_run_config(run)
    return run


def save_checkpoint(run: Run) -> None:
    """Rewrite run_dir/last: the model folder and everything `setup_resume` needs (rank 0; the
    other processes add their random state)."""
    p = run.progress
    distributed.save_rank_rng(run.dir, run.dist, p.step)
    if not run.dist.is_main:
        return
    # Written whole into last.new, sealed, then swapped in; the checkpoint before becomes prev/,
    # the fallback when last/ is found damaged (see `find_checkpoint`).
    last = fresh_folder(run.dir / "last.new")
    save_model(last, run.model, run.vocab, run.image_cfg, extra={"step": p.step, "epoch": p.epoch})
    state = {
        "step": p.step,
        "epoch": p.epoch,
        "position": p.position,
        "best": p.best,
        "world": run.dist.world,
        "train_seconds": p.train_seconds,
        "epoch_batches": len(run.sampler),
    }
    extra = run.ema.tensors() if run.ema is not None else None
    save_training_state(last, run.opt, {**state, "train_config": asdict(run.cfg)}, extra)
    seal_folder(last)
    swap_folder(last, run.dir / "last", keep="prev")


def find_checkpoint(run_dir: Path) -> Path:
    """The checkpoint to resume from: the latest sealed, undamaged one of last/, last.new/
    (complete, but a crash came before its swap) and prev/; a note on stderr when last/ is
    passed over. A checkpoint from before manifests existed is taken as it is."""
    found: list[tuple[int, Path]] = []
    reasons: list[str] = []
    for name in ("last", "last.new", "prev"):
        d = run_dir / name
        damage = folder_damage(d)
        if damage is None:
            try:
                step = int(json.loads((d / "train_state.json").read_text(encoding="utf-8"))["state"]["step"])
            except (OSError, ValueError, KeyError, TypeError):
                reasons.append(f"{name}/: unreadable train_state.json")
                continue
            found.append((step, d))
        elif damage != "missing" and not (name == "last.new" and damage == "no manifest"):
            reasons.append(f"{name}/: {damage}")
    if not found:
        legacy = run_dir / "last"
        if folder_damage(legacy) == "no manifest" and (legacy / "train_state.json").exists():
            return legacy
        why = f" ({'; '.join(reasons)})" if reasons else ""
        raise ModelError(f"nothing to resume: {run_dir} holds no usable checkpoint{why}")
    step, best = max(found, key=lambda sd: sd[0])
    if best.name != "last" and any(r.startswith("last/") for r in reasons):
        note = next(r for r in reasons if r.startswith("last/"))
        stderr_console().print(
            f"note: {run_dir}/{note}; resuming from {best} (step {step})", highlight=False, soft_wrap=True
        )
    return best


# -- one epoch --------------------------------------------------------------------------------


class _Window:
    """Loss and throughput since the last log line."""

    def __init__(self) -> None:
        self.loss, self.steps, self.samples, self.tokens, self.t0 = 0.0, 0, 0, 0, time.perf_counter()

    def add(self, loss: float, samples: int, tokens: int) -> None:
        self.loss += loss
        self.steps += 1
        self.samples += samples
        self.tokens += tokens

    def entry(self) -> dict[str, float]:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        return {
            "loss": self.loss / max(self.steps, 1),
            "samples_per_s": self.samples / dt,
            "tokens_per_s": self.tokens / dt,
        }


def _stop_reason(run: Run, started_s: float) -> str | None:
    """Why training must stop before the next step: 'budget', 'max_steps', 'max_minutes' or None.
    Decided on rank 0's clock when several processes train (they must stop at the same step)."""
    cfg, p = run.cfg, run.progress
    if cfg.step_budget is not None and p.step >= cfg.step_budget:
        return "budget"
    if cfg.max_steps is not None and p.step >= cfg.max_steps:
        return "max_steps"
    if cfg.time_budget is None and cfg.max_minutes is None:
        return None
    p.train_seconds = distributed.rank0_value(run.dist, p.train_seconds)
    if cfg.time_budget is not None and p.train_seconds >= cfg.time_budget * 60:
        return "budget"
    if cfg.max_minutes is not None and p.train_seconds - started_s >= cfg.max_minutes * 60:
        return "max_minutes"
    return None


def train_one_epoch(run: Run, bar: TrainingBar) -> str:
    """Train from the current position to the end of the epoch. Returns 'epoch' when the epoch is
    complete, else why it stopped first (see `_stop_reason`). Logs every `log_every` steps and
    checkpoints every `checkpoint_every` steps."""
    cfg, model, p, pad = run.cfg, run.model, run.progress, run.vocab.pad_id
    run.sampler.set_epoch(p.epoch, p.position)
    if run.train_ds.varies and run.dist.is_main:
        what = "augmented" if run.cfg.augment != "none" else "scale-jittered"
        bar.print(f"epoch {p.epoch + 1}: preparing its {what} images (1-10 ms each)")
    run.train_ds.set_epoch(p.epoch)  # before the loader forks its workers, so that they share them
    bar.start_epoch(f"{p.epoch + 1}" + (f"/{cfg.epochs}" if cfg.epochs is not None else ""), p.position)
    window = _Window()
    model.train()
    budget_s = cfg.time_budget * 60 if cfg.time_budget is not None else None
    tick = time.perf_counter()
    for batch in run.loader:
        p.train_seconds += time.perf_counter() - tick
        if (reason := _stop_reason(run, run.started_seconds)) is not None:
            return reason
        tick = time.perf_counter()
        batch = batch.to(run.device)
        done = p.train_seconds / budget_s if budget_s else None
        for g in run.opt.param_groups:
            g["lr"] = lr_at(p.step, run.total_steps, cfg, done)
        if cfg.mrt_weight > 0:
            loss = mixed_loss(run, batch)
        else:
            with autocast(run.device, cfg.bf16):
                logits = run.net(batch.images, batch.mask, batch.tgt_in)
            loss = token_loss(logits, batch.tgt_out, pad, cfg.label_smoothing)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        run.opt.step()
        if run.ema is not None:
            run.ema.update(model, p.step)
        p.step += 1
        p.position += 1
        last_loss = float(loss.detach())
        # Throughput of all processes together (they step in lockstep); the loss is rank 0's.
        w = run.dist.world
        window.add(last_loss, batch.images.shape[0] * w, int((batch.tgt_out != pad).sum()) * w)
        bar.show(**window.entry())  # the running loss from the first step, not only at log lines
        if p.step % cfg.log_every == 0 and run.dist.is_main:
            entry = {
                "kind": "train",
                "step": p.step,
                "epoch": p.epoch,
                **window.entry(),
                "last_loss": last_loss,
                "lr": run.opt.param_groups[0]["lr"],
            }
            append_log(run.dir / LOG, entry)
            window = _Window()
        bar.advance()
        if p.step % cfg.checkpoint_every == 0:
            p.train_seconds += time.perf_counter() - tick
            save_checkpoint(run)
            tick = time.perf_counter()
    p.train_seconds += time.perf_counter() - tick
    return "epoch"


def mixed_loss(run: Run, batch: Batch) -> torch.Tensor:
    """The token loss plus `mrt_weight` x the expected risk over the batch's n-best
    (`training.sequence`), from one teacher-forced call over the references and candidates."""
    cfg, v = run.cfg, run.vocab
    cands = sequence.candidates(run.model, batch, cfg.mrt_beam, v.bos_id, v.eos_id, v.pad_id)
    image, tgt_in, tgt_out, risks, is_ref = sequence.sequence_rows(batch, cands, v.pad_id, v.bos_id, v.eos_id)
    dev = run.device
    image, tgt_out, is_ref = image.to(dev), tgt_out.to(dev), is_ref.to(dev)
    with autocast(dev, cfg.bf16):
        logits = run.net(batch.images[image], batch.mask[image], tgt_in.to(dev))
    tokens = token_loss(logits[is_ref], tgt_out[is_ref], v.pad_id, cfg.label_smoothing)
    logp = torch.log_softmax(logits.float(), -1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)
    seq_logp = (logp * (tgt_out != v.pad_id)).sum(1)
    expected = sequence.expected_risk(seq_logp, image, risks.to(dev), len(batch.indices), cfg.mrt_alpha)
    return tokens + cfg.mrt_weight * expected


@torch.no_grad()
def validate(model: Img2TexModel, ds: SplitDataset, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Teacher-forced loss and greedy-decoding scores on a validation dataset."""
    model.eval()
    collate = Collate(ds.vocab, ds.image_cfg.bucket)
    sampler = BucketBatchSampler.for_dataset(ds, cfg.val_batch_size, shuffle=False)
    total, count = 0.0, 0
    for idx in sampler.batches(0):
        b = collate([ds[k] for k in idx]).to(device)
        with autocast(device, cfg.bf16):
            logits = model(b.images, b.mask, b.tgt_in)
        n = int((b.tgt_out != ds.vocab.pad_id).sum())
        total += float(token_loss(logits, b.tgt_out, ds.vocab.pad_id)) * n
        count += n
    hyps = decode_split(TorchEngine(model), ds, DecodeConfig(beam=1, max_len=cfg.decode_max_len), cfg.val_batch_size)
    s = score([ds.formula(k) for k in range(len(ds))], [ds.vocab.text(h.tokens) for h in hyps])
    return {
        "val_loss": total / max(count, 1),
        "val_bleu": s["bleu"],
        "val_exact": s["exact_match"],
        "val_edit_accuracy": s["edit_accuracy"],
    }


def _validate_and_keep_best(run: Run, entry: dict[str, Any]) -> None:
    """Rank 0: validation scores into `entry`, `best/` rewritten when they are the best so far,
    `entry` appended to the log. With a weight average, both are the average's."""
    with run.ema.applied(run.model) if run.ema is not None else contextlib.nullcontext():
        p = run.progress
        is_best = True
        if run.val_ds is not None and len(run.val_ds):
            entry.update(validate(run.model, run.val_ds, run.cfg, run.device))
            value = entry["val_bleu"] if run.cfg.select_by == "bleu" else -entry["val_loss"]
            is_best = p.best is None or value > p.best
            if is_best:
                p.best = value
        if is_best:  # staged and swapped like last/, so best/ is never half old, half new
            staged = fresh_folder(run.dir / "best.new")
            meta = {k: v for k, v in entry.items() if k != "kind"}
            save_model(staged, run.model, run.vocab, run.image_cfg, extra=meta)
            swap_folder(staged, run.dir / "best")
    append_log(run.dir / LOG, entry)


def end_epoch(run: Run) -> dict[str, Any]:
    """Validate, keep `best/`, log the epoch, move to the next one and checkpoint it. Only rank 0
    validates and writes; the other processes only move on (and wait for it at the next step)."""
    p = run.progress
    entry: dict[str, Any] = {
        "kind": "epoch",
        "epoch": p.epoch + 1,
        "step": p.step,
        "train_minutes": round(p.train_seconds / 60, 2),
    }
    if run.dist.is_main:
        _validate_and_keep_best(run, entry)
    p.epoch += 1
    p.position = 0
    save_checkpoint(run)
    if run.dist.is_main:
        draw_run(run.dir)
    return entry


def end_budget(run: Run) -> dict[str, Any]:
    """The time or step budget is spent mid-epoch: validate, keep `best/`, log, checkpoint where it is."""
    p = run.progress
    entry: dict[str, Any] = {
        "kind": "budget",
        "epoch": p.epoch + p.position / max(1, len(run.sampler)),
        "step": p.step,
        "train_minutes": round(p.train_seconds / 60, 2),
    }
    if run.dist.is_main:
        _validate_and_keep_best(run, entry)
    save_checkpoint(run)
    return entry


# -- the whole run ----------------------------------------------------------------------------


def export_best(run: Run) -> bool:
    """Export best/ to ONNX (for prediction without torch) unless its export is current; a
    failure is reported and training's result stands."""
    from img2tex.network.export import check_export, export_model

    best = run.dir / "best"
    if not (best / "model.safetensors").exists():
        return False
    try:
        check_export(best)
        return True
    except ModelError:
        pass
    try:
        export_model(best)
    except ModelError as exc:
        stderr_console().print(f"warning: {exc}", highlight=False)
        return False
    return True


class _StopOnSignal:
    """While training, SIGTERM (kill, a job scheduler, docker stop) stops the run as Ctrl-C
    does: with a checkpoint to resume from, not with the steps since the last one lost."""

    def __enter__(self) -> None:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._stop)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)

    @staticmethod
    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt


def fit(run: Run, progress: bool = True) -> dict[str, Any]:
    """Run epochs until `epochs` or the time or step budget; returns a summary whose status is 'done',
    'stopped' (at max_steps or max_minutes) or 'interrupted' (Ctrl-C or SIGTERM). Every way out
    leaves a checkpoint."""
    status = "done"
    run.started_seconds = run.progress.train_seconds
    try:
        with _StopOnSignal(), training_bar(len(run.sampler), enabled=progress and run.dist.is_main) as bar:
            while run.cfg.epochs is None or run.progress.epoch < run.cfg.epochs:
                reason = train_one_epoch(run, bar)
                if reason == "epoch":
                    entry = end_epoch(run)
                elif reason == "budget":
                    entry = end_budget(run)
                else:
                    status = "stopped"
                    save_checkpoint(run)
                    break
                if run.dist.is_main:
                    bar.print(
                        " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())
                    )
                if reason == "budget":
                    break
    except KeyboardInterrupt:
        status = "interrupted"
        save_checkpoint(run)
    if run.dist.is_main and (run.dir / LOG).exists():
        draw_run(run.dir)
    exported = run.dist.is_main and status != "interrupted" and run.cfg.export and export_best(run)
    if status != "interrupted":
        distributed.finish(run.dist)
    p = run.progress
    return {
        "status": status,
        "exported": exported,
        "step": p.step,
        "epoch": p.epoch,
        "best": p.best,
        "train_seconds": round(p.train_seconds, 1),
        "run_dir": str(run.dir),
        "best_dir": str(run.dir / "best"),
        "last_dir": str(run.dir / "last"),
        "parameters": count_parameters(run.model),
    }


def train(
    train_split: Split,
    val_split: Split | None,
    run_dir: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    image_cfg: ImageConfig | None = None,
    vocab: Vocab | None = None,
    progress: bool = True,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train a new model in `run_dir` (see `setup` for `init_from`, `fit` for the summary)."""
    return fit(setup(train_split, val_split, run_dir, cfg, model_cfg, image_cfg, vocab, init_from), progress)


def resume(
    train_split: Split,
    val_split: Split | None,
    run_dir: str | Path,
    changes: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Continue the run in `run_dir` exactly where it stopped (see `setup_resume`, `fit`)."""
    return fit(setup_resume(train_split, val_split, run_dir, changes), progress)
