"""End-to-end training speed of this tree against an earlier revision, same data, same machine, one run.

    python benchmarks/train_speed_vs_rev.py --work ../work --old-rev 0f153e8 \
        --config "before=old:--batch-size 24 --bf16 auto" \
        --config "default=new:" --config "a32=new:--attn-dim 32" --steps 300 --rounds 2

A step microbenchmark (bench_model.py) can only time today's code. To compare with the trainer *as
it was* (e.g. 0f153e8, the trainer of 2026-11-25, against which the training speed goal was set),
this script exports that revision's `img2tex/` with `git archive` and runs its own `img2tex train`
beside this tree's, on the same packed renders and vocabulary. Each configuration is
`NAME=old|new[*N]:OPTIONS`, where `*N` trains with N processes under torchrun (DDP over gloo, one
thread each: torchrun's default; a step then sees N x --batch-size images); every run is a new run
folder under WORK/speed_vs_rev stopped by --max-steps. Speeds come from each run's log.jsonl windows
(the trainer's own samples/s and target tokens/s of all processes, data loading and augmentation
included, checkpoints excluded); the first window is dropped as warm-up, the rest give a median.
Configurations run in turn, round by round, so a drift in the machine's speed falls on all of them.
Nothing else may run meanwhile.
Results: benchmarks/results/<out-name>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from machine import describe, write_results  # benchmarks/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent


def export_rev(rev: str, dest: Path) -> Path:
    """`img2tex/` of REV, unpacked into DEST (importable with DEST on PYTHONPATH)."""
    dest.mkdir(parents=True, exist_ok=True)
    tar = dest / "src.tar"
    with tar.open("wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "img2tex"], stdout=f, check=True)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    tar.unlink()
    return dest


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def train_command(src: Path) -> list[str]:
    """`img2tex train` of the img2tex under SRC, with --no-export where that revision has it."""
    cmd = [sys.executable, "-m", "img2tex.cli", "train"]
    helptext = subprocess.run([*cmd, "--help"], capture_output=True, text=True, env=_env(src), cwd=src).stdout
    return cmd + (["--no-export"] if "--no-export" in helptext else [])


def under_torchrun(cmd: list[str], processes: int) -> list[str]:
    """CMD (`python -m img2tex.cli ...`) run by torchrun with PROCESSES processes, which gives each
    one thread unless OMP_NUM_THREADS is set; CMD itself for one process."""
    if processes == 1:
        return cmd
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return [cmd[0], *torchrun, *cmd[1:]]


def _env(src: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(src))


def train_run(
    src: Path, train: list[str], data: Path, vocab: Path, run: Path, steps: int, opts: list[str]
) -> list[dict]:
    """One training run of the img2tex under SRC; its log's training windows."""
    shutil.rmtree(run, ignore_errors=True)
    cmd = [*train, str(data), "-o", str(run), "--vocab", str(vocab), "--max-steps", str(steps), "--epochs", "100"]
    cmd += opts
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(src), cwd=src)  # `-m` puts the cwd first
    if r.returncode != 0:
        raise SystemExit(f"error: {shlex.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-600:]}")
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return [row for row in rows if row.get("kind") == "train" and "samples_per_s" in row]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="holds train_a/packed and vocab.json (train_budget's)")
    ap.add_argument("--old-rev", default="0f153e8", help="the earlier revision (default: the trainer of 2026-11-25)")
    ap.add_argument("--config", action="append", required=True, help="NAME=old|new:OPTIONS (repeat)")
    ap.add_argument("--steps", type=int, default=300, help="training steps per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out-name", default="train_speed_vs_rev")
    args = ap.parse_args()

    work = args.work.resolve()  # runs start in their source folder
    data, vocab = work / "train_a" / "packed", work / "vocab.json"
    for p in (data, vocab):
        if not p.exists():
            raise SystemExit(f"error: {p} not found: see benchmarks/train_budget.py for how to make it")
    configs = []
    for spec in args.config:
        name, _, rest = spec.partition("=")
        which, _, opts = rest.partition(":")
        which, _, procs = which.partition("*")
        if not name or which not in ("old", "new") or not (procs or "1").isdigit() or int(procs or 1) < 1:
            raise SystemExit(f"error: --config {spec!r}: expected NAME=old|new[*PROCESSES]:OPTIONS")
        configs.append((name, which, int(procs or 1), shlex.split(opts)))

    tmp = Path(tempfile.mkdtemp(prefix="img2tex-rev-"))
    srcs = {"old": export_rev(args.old_rev, tmp), "new": ROOT}
    old_commit, new_commit = git("rev-parse", "--short", args.old_rev), git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "img2tex"):
        new_commit += " with uncommitted changes to img2tex/"
    trains = {which: train_command(src) for which, src in srcs.items()}  # one --help per source
    windows: dict[str, dict[str, list[float]]] = {name: {"samples": [], "tokens": []} for name, *_ in configs}
    try:
        for rnd in range(args.rounds):
            for name, which, procs, opts in configs:
                rows = train_run(
                    srcs[which],
                    under_torchrun(trains[which], procs),
                    data,
                    vocab,
                    work / "speed_vs_rev" / name,
                    args.steps,
                    opts,
                )
                kept = rows[1:]  # the first window holds start-up and warm-up
                windows[name]["samples"] += [r["samples_per_s"] for r in kept]
                windows[name]["tokens"] += [r["tokens_per_s"] for r in kept]
                med = statistics.median(r["samples_per_s"] for r in kept) if kept else float("nan")
                print(f"round {rnd + 1}: {name} ({which}) {med:.1f} samples/s over {len(kept)} windows", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "machine": describe(),
        "command": shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "old_rev": old_commit,
        "new_rev": new_commit,
        "steps": args.steps,
        "rounds": args.rounds,
        "configs": {},
    }
    base = None
    for name, which, procs, opts in configs:
        w = windows[name]
        row = {
            "source": which,
            "processes": procs,
            "options": shlex.join(opts),
            "windows": len(w["samples"]),
            "samples_per_s": round(statistics.median(w["samples"]), 1),
            "tokens_per_s": round(statistics.median(w["tokens"]), 0),
        }
        base = base or row
        row["tokens_vs_first"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2)
        result["configs"][name] = row
    lines = [
        "# Training speed, end to end, against an earlier revision",
        "",
        f"Machine: {result['machine']}",
        "",
        f"Command: `{result['command']}`",
        "",
        f"`old` is img2tex at {old_commit}, `new` this tree at {new_commit}; each run trains {args.steps} steps from "
        f"scratch on WORK/train_a/packed with WORK/vocab.json, {args.rounds} rounds in turn; medians of the trainer's "
        "own log windows (data loading and augmentation included), the first window of each run dropped.",
        "",
        "| config | source | processes | options | windows | samples/s | target tokens/s | tokens/s vs first |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result["configs"].items():
        lines.append(
            f"| {name} | {row['source']} | {row['processes']} | `{row['options']}` | {row['windows']} "
            f"| {row['samples_per_s']} | {row['tokens_per_s']:.0f} | {row['tokens_vs_first']}× |"
        )
    write_results(args.out_name, result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
