"""RAM, and the binary units every size in the harness is counted in."""

from __future__ import annotations

MiB = 1024 * 1024
GiB = 1024 * MiB


def ram_bytes() -> tuple[int, int]:
    """(total, available) system memory in bytes."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)
