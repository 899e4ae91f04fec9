"""What every benchmark result records about the machine it ran on."""

from __future__ import annotations

import os
import platform


def describe() -> dict[str, object]:
    """Platform, processor, core count and Python version of this machine."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
