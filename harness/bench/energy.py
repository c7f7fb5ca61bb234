"""Energy where the machine can tell: RAPL counters on CPUs, NVML's energy counter on NVIDIA GPUs.

Both are cumulative counters read before and after each measured call, so the figure is the energy
the whole package (or GPU) drew meanwhile, idle cores included: joules per token of this machine
doing this work, as LocalScore reports power. Where neither exists (most VMs, macOS) the result
says so instead of guessing from TDPs.

- RAPL: /sys/class/powercap/intel-rapl:N/energy_uj, one per CPU package (its subzones, core and
  dram, are inside it and not added again). Linux exposes AMD's counters there too. Often readable by
  root only (since 2020, against power side channels): then the note says so.
- NVML: `nvidia-smi --query-gpu=total_energy_consumption` (mJ since the driver loaded; Volta and newer).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

POWERCAP = Path(os.environ.get("HARNESS_POWERCAP_DIR", "/sys/class/powercap"))  # tests point it at a fake tree
_PACKAGE = re.compile(r"^intel-rapl:\d+$")


@dataclass
class _Counter:
    name: str
    path: Path
    wrap_uj: int

    def read_uj(self) -> int:
        return int(self.path.read_text().strip())


def rapl_counters(root: Path | None = None) -> tuple[list[_Counter], str | None]:
    """The readable package counters, or none and why."""
    root = root or POWERCAP
    zones = sorted(p for p in root.glob("intel-rapl:*") if _PACKAGE.match(p.name)) if root.is_dir() else []
    if not zones:
        return [], f"no RAPL counters ({root} has no intel-rapl package zone)"
    counters = []
    for zone in zones:
        try:
            name = (zone / "name").read_text().strip() if (zone / "name").exists() else zone.name
            wrap = (
                int((zone / "max_energy_range_uj").read_text().strip())
                if (zone / "max_energy_range_uj").exists()
                else 0
            )
            counter = _Counter(f"rapl:{name}", zone / "energy_uj", wrap)
            counter.read_uj()
            counters.append(counter)
        except PermissionError:
            return (
                [],
                f"RAPL counters exist but are not readable by this user ({zone / 'energy_uj'}; root can read them)",
            )
        except (OSError, ValueError):
            continue
    return counters, None if counters else "RAPL counters could not be read"


def _nvml_mj() -> list[int] | None:
    """Each GPU's energy counter in mJ, or None where nvidia-smi or the counter is missing."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=total_energy_consumption", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    values = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or not values or not all(v.isdigit() for v in values):
        return None  # "[N/A]" on GPUs without the counter
    return [int(v) for v in values]


@dataclass
class EnergyMeter:
    """Accumulates joules over the calls wrapped in `measure()`, per source."""

    rapl: list[_Counter] = field(default_factory=list)
    gpu: bool = False
    notes: list[str] = field(default_factory=list)
    joules: float = 0.0

    @classmethod
    def open(cls, want_gpu: bool) -> EnergyMeter:
        rapl, why = rapl_counters()
        meter = cls(rapl=rapl, notes=[why] if why else [])
        if want_gpu:
            meter.gpu = _nvml_mj() is not None
            if not meter.gpu:
                meter.notes.append("no NVML energy counter (nvidia-smi missing, or this GPU has none)")
        return meter

    @property
    def sources(self) -> list[str]:
        return [c.name for c in self.rapl] + (["nvml"] if self.gpu else [])

    def _read(self) -> tuple[list[int], list[int] | None]:
        return [c.read_uj() for c in self.rapl], (_nvml_mj() if self.gpu else None)

    def start(self) -> tuple[list[int], list[int] | None]:
        return self._read()

    def stop(self, started: tuple[list[int], list[int] | None]) -> float:
        """Joules since `started`; a RAPL counter that wrapped around is unwrapped once."""
        cpu0, gpu0 = started
        cpu1, gpu1 = self._read()
        joules = 0.0
        for c, a, b in zip(self.rapl, cpu0, cpu1):
            delta = b - a if b >= a else b + c.wrap_uj - a
            joules += delta / 1e6
        if gpu0 is not None and gpu1 is not None:
            joules += sum(b - a for a, b in zip(gpu0, gpu1)) / 1e3
        self.joules += joules
        return joules


def not_available_note(meter: EnergyMeter) -> str:
    return "energy not available on this machine: " + "; ".join(meter.notes)
