"""models/gpu_train.sh as a user runs it from the repository root, but on the CPU (DEVICE=cpu) with
tiny data: a fine-tune that stops and resumes, a new run of a preset, two processes under torchrun,
and the usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from img2tex.data.packed import write_packed

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "models" / "gpu_train.sh"


def _packed(out: Path, split, prefix: str) -> Path:  # type: ignore[no-untyped-def]
    write_packed(out, [(f"{prefix}{i}", split.image(i), split.formula(i)) for i in range(len(split))])
    return out


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "WORKERS": "0", **env}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)


def _step(run: Path) -> int:
    return int(json.loads((run / "last" / "train_state.json").read_text())["state"]["step"])


@pytest.fixture
def data(tmp_path: Path, fake_split) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    return _packed(tmp_path / "train" / "packed", fake_split(24), "t"), _packed(
        tmp_path / "val" / "packed", fake_split(8), "v"
    )


def test_fine_tune_stops_and_resumes(tmp_path: Path, data: tuple[Path, Path], model_dir: Path) -> None:
    train, val = data
    run = tmp_path / "ft"
    env = {"RUN": str(run), "VAL": str(val), "VAL_SIZE": "8", "INIT_FROM": str(model_dir), "BATCH": "4"}

    first = _run([str(train), "--", "--max-steps", "2", "--no-export"], **env)
    assert first.returncode == 0, first.stderr
    assert "training stopped" in first.stdout + first.stderr
    assert _step(run) == 2
    assert "torch" in (run / "machine.txt").read_text()
    cfg = json.loads((run / "last" / "train_state.json").read_text())["state"]["train_config"]
    assert cfg["batch_size"] == 4 and cfg["lr"] == 3e-4 and cfg["time_budget"] == 8  # a fine-tune's defaults

    # The same command, later: it resumes, and past the epoch's end (6 steps of 4 of the 24 images)
    # it validates on VAL and keeps best/.
    second = _run([str(train), "--", "--max-steps", "7", "--no-export"], **env)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr
    assert _step(run) == 7
    epochs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"epoch"' in line]
    assert any(e.get("kind") == "epoch" and "val_bleu" in e for e in epochs), epochs
    assert (run / "best" / "model.safetensors").is_file()


def test_new_run_of_a_preset(tmp_path: Path, data: tuple[Path, Path]) -> None:
    train, _ = data
    run = tmp_path / "new"
    done = _run([str(train), "--", "--max-steps", "1", "--no-export"], RUN=str(run), PRESET="cpu", BATCH="4")
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "last" / "config.json").read_text())["model"]["enc_blocks"]  # a cpu-preset network
    assert _step(run) == 1


def test_two_processes_under_torchrun(tmp_path: Path, data: tuple[Path, Path], model_dir: Path) -> None:
    train, _ = data
    run = tmp_path / "ddp"
    env = {"RUN": str(run), "INIT_FROM": str(model_dir), "BATCH": "2", "GPUS": "2"}
    done = _run([str(train), "--", "--max-steps", "2", "--no-export"], **env)
    assert done.returncode == 0, done.stderr
    assert _step(run) == 2
    assert json.loads((run / "last" / "train_state.json").read_text())["state"]["world"] == 2


def test_no_training_data_is_a_usage_error() -> None:
    done = _run([])
    assert done.returncode == 2
    assert "name at least one training data folder" in done.stderr
