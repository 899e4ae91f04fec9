"""models/gpu_train.sh run as the device tool runs it (from a repository root holding gpu_data/),
but on the CPU with tiny data: data staged by one call and trained on by the next, a fine-tune
and a preset from scratch side by side, and what comes back in $OUT."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from img2tex.data.packed import write_packed

SCRIPT = Path(__file__).resolve().parents[1] / "models" / "gpu_train.sh"


def _packed(out: Path, split, prefix: str) -> None:  # type: ignore[no-untyped-def]
    write_packed(out, [(f"{prefix}{i}", split.image(i), split.formula(i)) for i in range(len(split))])


def _run(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # python3 in the script must be this interpreter (the one with img2tex and torch).
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    full = {**os.environ, "PATH": path, "DEVICE": "cpu", "WORKERS": "0", **env}
    return subprocess.run(["bash", str(SCRIPT)], cwd=root, env=full, capture_output=True, text=True, timeout=300)


def test_staged_data_is_trained_on_by_the_next_call(tmp_path: Path, fake_split, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    root, stage = tmp_path / "repo", tmp_path / "stage"
    _packed(root / "gpu_stage" / "train" / "a" / "packed", fake_split(24), "a")
    _packed(root / "gpu_data" / "train" / "b" / "packed", fake_split(24), "b")
    _packed(root / "gpu_data" / "val" / "packed", fake_split(8), "v")
    shutil.copytree(model_dir, root / "gpu_data" / "init")
    shutil.copy(model_dir / "vocab.json", root / "gpu_data" / "vocab.json")

    first = _run(root, STAGE_ONLY="1", STAGE_FROM="gpu_stage", STAGE=str(stage), OUT=str(tmp_path / "out1"))
    assert first.returncode == 0, first.stderr
    assert (stage / "a" / "packed" / "packed.json").is_file()
    assert not (tmp_path / "runs").exists()  # staging trains nothing

    out = tmp_path / "out2"
    second = _run(
        root,
        INIT_FROM="gpu_data/init",
        PRESETS="cpu",
        BATCH="8",
        LR="1e-3",
        BUDGET="0.02",
        MINUTES="0.02",
        VAL_SIZE="8",
        DEADLINE="240",
        STAGE=str(stage),
        RUNS=str(tmp_path / "runs"),
        OUT=str(out),
    )
    assert second.returncode == 0, second.stderr
    assert "training parts: 2" in (out / "machine.txt").read_text()  # its own part and the staged one
    for run in ("finetune", "cpu"):
        with tarfile.open(out / f"{run}.tgz") as tgz:
            names = set(tgz.getnames())
        assert {f"{run}.log", f"{run}/log.jsonl", f"{run}/last/model.safetensors"} <= names, names
    log = (tmp_path / "runs" / "finetune.log").read_text()
    assert "training done" in log or "training stopped" in log, log[-2000:]
