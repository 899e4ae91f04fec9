"""What every benchmark result shares: the machine it ran on, and where and how it is written."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from img2tex.fileio import atomic_write_text

#: benchmarks/results: the committed results, each as NAME.json (figures) and NAME.md (the table).
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name (Linux), else the processor platform reports. Kept because 2-core
    machines differ (an AMD EPYC and an Intel Xeon ran the same training step at 195 and 100
    samples/s), so figures from different CPU models are not comparable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict[str, object]:
    """Platform, CPU model (and whether it has native bf16: training is several times faster
    where it has), core count and Python version of this machine."""
    from img2tex.device import cpu_has_native_bf16

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model() + (" (AVX512-BF16)" if cpu_has_native_bf16() else ""),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def write_json(path: Path, result: object) -> None:
    """A result's figures as JSON, atomically: a benchmark stopped mid-write (they run for hours,
    and some rewrite their JSON after every mark) leaves the previous file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1, ensure_ascii=False) + "\n")


def write_results(name: str, result: object, lines: list[str], folder: Path = RESULTS) -> None:
    """FOLDER/NAME.json (the figures) and FOLDER/NAME.md (LINES, the table people read)."""
    write_json(folder / f"{name}.json", result)
    atomic_write_text(folder / f"{name}.md", "\n".join(lines) + "\n")
