"""Training on several processes with torch.distributed (DDP), as launched by `torchrun`.

`torchrun --nproc_per_node N -m img2tex.cli train ...` starts N copies of the same command;
each reads RANK, WORLD_SIZE and LOCAL_RANK from the environment (`Dist.from_env`), joins the
process group (NCCL on GPUs, gloo on CPUs), trains on its own share of every epoch's batches
(`data.pipeline.BucketBatchSampler` with rank and world) and DistributedDataParallel averages the
gradients, so one step sees `world x batch_size` images. Only rank 0 validates, logs and writes
checkpoints; each rank keeps its own random state (dropout) in `last/rng.rank<r>.safetensors`, so
a resumed run continues exactly when it has the same number of processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from img2tex.errors import ModelError
from img2tex.fileio import atomic_write_bytes


@dataclass(frozen=True)
class Dist:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls) -> Dist:
        try:
            return cls(
                int(os.environ.get("RANK", 0)),
                int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)),
            )
        except ValueError:
            raise ModelError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (set by torchrun)") from None


def init(d: Dist, device: torch.device) -> torch.device:
    """Join the process group (once) and return this rank's device: its own GPU under CUDA."""
    if not d.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def finish(d: Dist) -> None:
    """Leave the process group after the others are done."""
    if d.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank0_value(d: Dist, value: float) -> float:
    """Rank 0's `value` in every process (a clock reading that all must act on alike)."""
    if not d.active:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return float(t.item())


def _rng_file(run_dir: Path, rank: int, step: int) -> Path:
    return run_dir / "ranks" / f"rank{rank}-step{step}.safetensors"


def save_rank_rng(run_dir: str | Path, d: Dist, step: int) -> None:
    """Each rank but 0 writes its own torch random state for checkpoint `step` (rank 0's is in
    the training state) beside the checkpoints, keeping its two latest: rank 0 swaps whole
    checkpoint folders, and a rank's file must not depend on when that happens."""
    if d.active and not d.is_main:
        tensors = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            tensors["cuda"] = torch.cuda.get_rng_state()
        path = _rng_file(Path(run_dir), d.rank, step)
        atomic_write_bytes(path, st_save(tensors))
        mine = sorted(path.parent.glob(f"rank{d.rank}-step*.safetensors"), key=lambda p: int(p.stem.split("step")[1]))
        for old in mine[:-2]:
            old.unlink(missing_ok=True)


def load_rank_rng(ckpt_dir: str | Path, d: Dist, step: int) -> bool:
    """Restore this rank's random state for the checkpoint in `ckpt_dir` (saved at `step`);
    False when there is none for it (the checkpoint was made by a different number of
    processes, or the rank was killed before writing it): the rank then keeps its fresh seed."""
    if not d.active or d.is_main:
        return True
    path = _rng_file(Path(ckpt_dir).parent, d.rank, step)
    if not path.is_file():
        return False
    tensors = st_load(path.read_bytes())
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda"])
    return True
