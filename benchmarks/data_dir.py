"""Where the benchmarks find the shared data: `--data-dir`, else $IMG2TEX_DATA; a clear error
when neither names a folder that holds what the benchmark reads."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_data_dir(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("IMG2TEX_DATA"),
        help="the shared data folder (im2latex-100k/, formula-corpus/, ...); default $IMG2TEX_DATA",
    )


def data_file(data_dir: Path | None, relative: str) -> Path:
    """data_dir/relative, or exit with a one-line message naming what is missing."""
    if data_dir is None:
        raise SystemExit("error: pass --data-dir DIR (the shared data folder) or set IMG2TEX_DATA")
    path = Path(data_dir) / relative
    if not path.exists():
        raise SystemExit(f"error: {path} not found; is --data-dir the shared data folder?")
    return path
