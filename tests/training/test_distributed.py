"""Training that scales out: two gloo processes under torchrun on the CPU (a few steps): the loss
falls, only rank 0 writes, and a run stopped and resumed ends exactly like an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from img2tex.training.distributed import Dist

SCRIPT = r'''
import sys
import numpy as np
from img2tex.network.config import ModelConfig
from img2tex.training.trainer import resume, train
from img2tex.training.config import TrainConfig


class Boxes:
    """24 synthetic images; the formula says how many bars the image holds."""

    def __len__(self):
        return 24

    def formula(self, i):
        return " ".join(["x"] * (1 + i % 4))

    def name(self, i):
        return f"img{i}"

    def shape(self, i):
        return (32, 64)

    def image(self, i):
        a = np.full((32, 64), 255, np.uint8)
        for k in range(1 + i % 4):
            a[6:26, 6 + 12 * k : 10 + 12 * k] = 0
        return a


run_dir, mode = sys.argv[1], sys.argv[2]
cfg = dict(export=False, batch_size=2, epochs=5, lr=5e-3, warmup_steps=2, log_every=1, val_size=0, device="cpu")
model = ModelConfig(enc_blocks=[(8, 1, 2, 2), (16, 1, 2, 2), (16, 1, 2, 2)], emb_dim=8, hidden_dim=32,
                    attn_dim=8, dropout=0.2, decoder="parallel")
if mode == "full":
    train(Boxes(), None, run_dir, TrainConfig(**cfg), model, progress=False)
elif mode == "stop":
    train(Boxes(), None, run_dir, TrainConfig(**cfg, max_steps=8), model, progress=False)
else:
    resume(Boxes(), None, run_dir, progress=False)
'''


def torchrun(script: Path, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def losses(run: Path) -> dict[int, float]:
    entries = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {e["step"]: e["last_loss"] for e in entries if e["kind"] == "train"}


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "train_ddp.py"
    path.write_text(SCRIPT)
    return path


def test_two_processes_learn_and_resume_exactly(script: Path, tmp_path: Path) -> None:
    torchrun(script, str(tmp_path / "a"), "full")
    a = losses(tmp_path / "a")
    assert sorted(a) == list(range(1, 31))  # 24 images / (2 per process x 2 processes) = 6 steps x 5 epochs
    assert sum(a[s] for s in range(27, 31)) < 0.7 * sum(a[s] for s in range(1, 5))
    step = json.loads((tmp_path / "a" / "last" / "train_state.json").read_text())["state"]["step"]
    ranks = tmp_path / "a" / "ranks"  # rank 1 keeps its random state by step; rank 0's is in last/
    assert (ranks / f"rank1-step{step}.safetensors").is_file() and not list(ranks.glob("rank0-*"))
    assert len(list(ranks.glob("rank1-*"))) <= 2  # only its two latest
    assert json.loads((tmp_path / "a" / "config.json").read_text())["processes"] == 2

    torchrun(script, str(tmp_path / "b"), "stop")
    assert json.loads((tmp_path / "b" / "last" / "train_state.json").read_text())["state"]["step"] == 8
    torchrun(script, str(tmp_path / "b"), "resume")
    b = losses(tmp_path / "b")
    assert sorted(b) == sorted(a)
    for step in range(9, 31):
        assert b[step] == pytest.approx(a[step], rel=1e-5, abs=1e-6), step


def test_dist_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert Dist.from_env() == Dist(0, 1, 0) and not Dist.from_env().active
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    d = Dist.from_env()
    assert d.active and not d.is_main and d.world == 4


def test_sampler_shards_batches() -> None:
    from img2tex.data.pipeline import BucketBatchSampler

    keys = [(16, 32, i % 3) for i in range(21)]
    whole = BucketBatchSampler(keys, 2, seed=3).batches(0)  # 11 batches
    parts = [BucketBatchSampler(keys, 2, seed=3, rank=r, world=2) for r in range(2)]
    local = [p.local_batches(0) for p in parts]
    assert len(parts[0]) == len(parts[1]) == 5 == len(local[0]) == len(local[1])
    assert local[0] + local[1] != [] and sorted(map(tuple, local[0] + local[1])) == sorted(map(tuple, whole[:10]))
