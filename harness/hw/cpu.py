"""The CPU: its name, its cores, and how many threads a llama.cpp run should use by default."""

from __future__ import annotations

import os
import platform
import subprocess
import sys


def cpu_model() -> str:
    """The CPU's marketing name ("AMD Ryzen 9 7950X"), or the best the OS offers."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    # x86: "model name"; some ARM kernels: "Model" / "Hardware".
                    key, _, value = line.partition(":")
                    if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                        return value.strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=2
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor() or platform.machine() or "unknown"


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def logical_cores() -> int | None:
    import psutil

    return psutil.cpu_count(logical=True) or os.cpu_count()


def usable_cores() -> int:
    """Cores this process may run on (cgroups/affinity can be fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_threads() -> int:
    """Physical cores, capped by what this process may use: hyper-threads slow llama.cpp down."""
    return max(1, min(physical_cores(), usable_cores()))
