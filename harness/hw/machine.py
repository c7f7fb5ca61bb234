"""Every fact about this machine as one JSON-ready dict: `harness doctor`'s "system" block, and the
local machine the leaderboard ranks results against. Result files take the same facts from the
modules directly (harness/bench/system.py), in the result schema's shape."""

from __future__ import annotations

import platform
from typing import Any

from harness.hw.cpu import cpu_model, logical_cores, physical_cores, usable_cores
from harness.hw.gpu import detect_gpus
from harness.hw.memory import ram_bytes


def system_info(*, with_gpus: bool = True) -> dict[str, Any]:
    total, available = ram_bytes()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_physical_cores": physical_cores(),
        "cpu_logical_cores": logical_cores(),
        "cpu_usable_cores": usable_cores(),
        "ram_total_bytes": total,
        "ram_available_bytes": available,
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    if with_gpus:
        info["gpus"] = [g.to_dict() for g in detect_gpus()]
    return info
