"""What every benchmark records about the machine it ran on (bench/README.md).

Shared by the benches, which run as scripts from this folder (``python bench/x.py``).
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine(**extra: Any) -> dict[str, Any]:
    """Date, system, CPU model and count, Python version, then ``extra`` (tool versions,
    the load average at the start)."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "uname": " ".join(platform.uname()),
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        **extra,
    }
