"""NVIDIA GPUs: the one GPU type, detection, and the one VRAM probe.

Both detection and the probe ask NVML when nvidia-ml-py (`pynvml`, optional) is importable and can
initialise, and nvidia-smi otherwise; with neither, or no GPU, they answer "none" ([] / None) rather
than fail: CI never has a GPU. The parsers are pure functions, tested on captured nvidia-smi text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from harness.hw.memory import MiB


# The card (name, vram_bytes, driver) is what result files record, in the result schema's shape
# (harness/bench/schema.py re-exports this class; no docstring here, as it would enter
# schemas/result.schema.json). index, free_bytes and compute_capability are this moment's reading, for
# the offload plan and `harness doctor`: left out of result files and of their schema.
class GpuInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    vram_bytes: int | None = None  # total memory
    driver: str | None = None
    index: SkipJsonSchema[int | None] = Field(None, exclude=True)
    free_bytes: SkipJsonSchema[int | None] = Field(None, exclude=True)
    compute_capability: SkipJsonSchema[str | None] = Field(None, exclude=True)  # "8.9" -> CMAKE_CUDA_ARCHITECTURES=89

    def to_dict(self) -> dict[str, Any]:
        """The detected card as `harness doctor --json` and the backend's info show it."""
        return {
            "index": self.index,
            "name": self.name,
            "total_bytes": self.vram_bytes,
            "free_bytes": self.free_bytes,
            "driver": self.driver,
            "compute_capability": self.compute_capability,
        }


# ----------------------------------------------------------------------------- detection


def parse_nvidia_smi(csv_text: str) -> list[GpuInfo]:
    """Parse `--query-gpu=index,name,memory.total,memory.free,driver_version[,compute_cap]
    --format=csv,noheader,nounits` (memory in MiB)."""
    gpus = []
    for line in csv_text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            gpus.append(
                GpuInfo(
                    index=int(parts[0]),
                    name=parts[1] or "unknown GPU",
                    vram_bytes=int(float(parts[2])) * MiB,
                    free_bytes=int(float(parts[3])) * MiB,
                    driver=parts[4] if len(parts) > 4 and parts[4] else None,
                    compute_capability=parts[5] if len(parts) > 5 and parts[5] not in ("", "[N/A]") else None,
                )
            )
        except ValueError:
            continue
    return gpus


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value  # older nvidia-ml-py returns bytes


def _nvml():
    """The initialised pynvml module, or None where NVML cannot answer (not installed, no driver).
    The caller shuts it down."""
    try:
        import pynvml  # nvidia-ml-py, optional
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def _shutdown(pynvml) -> None:
    try:
        pynvml.nvmlShutdown()
    except Exception:
        pass


def _gpus_from_nvml() -> list[GpuInfo] | None:
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            gpus.append(
                GpuInfo(
                    index=i,
                    name=_text(pynvml.nvmlDeviceGetName(h)) or "unknown GPU",
                    vram_bytes=int(mem.total),
                    free_bytes=int(mem.free),
                    driver=driver,
                    compute_capability=f"{major}.{minor}",
                )
            )
        return gpus
    except Exception:
        return None
    finally:
        _shutdown(pynvml)


def _gpus_from_nvidia_smi() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    base = "index,name,memory.total,memory.free,driver_version"
    for fields in (base + ",compute_cap", base):  # compute_cap needs driver >= 510
        try:
            out = subprocess.run(
                [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=5,
            )
        except (OSError, subprocess.TimeoutExpired):
            return []
        if out.returncode == 0:
            return parse_nvidia_smi(out.stdout)
    return []


def detect_gpus() -> list[GpuInfo]:
    """NVIDIA GPUs with their free memory: NVML if nvidia-ml-py is installed, else nvidia-smi."""
    gpus = _gpus_from_nvml()
    return gpus if gpus is not None else _gpus_from_nvidia_smi()


# ----------------------------------------------------------------------------- VRAM of processes


def parse_compute_apps(csv_text: str) -> dict[int, int]:
    """Parse `--query-compute-apps=pid,used_memory --format=csv,noheader,nounits` (MiB) into
    {pid: bytes}, summed over GPUs; lines without a number ("[N/A]") are skipped."""
    used: dict[int, int] = {}
    for line in csv_text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            used[int(parts[0])] = used.get(int(parts[0]), 0) + int(parts[1]) * MiB
    return used


def _vram_from_nvml(pynvml, pids: Collection[int]) -> int | None:
    try:
        total, seen = 0, False
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
                if p.pid in pids and p.usedGpuMemory is not None:
                    total, seen = total + int(p.usedGpuMemory), True
        return total if seen else None
    except Exception:
        return None
    finally:
        _shutdown(pynvml)


def _vram_from_nvidia_smi(exe: str, pids: Collection[int]) -> int | None:
    try:
        out = subprocess.run(
            [exe, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    held = [b for pid, b in parse_compute_apps(out.stdout).items() if pid in pids]
    return sum(held) if held else None


def process_vram_bytes(pids: Collection[int] | None = None) -> int | None:
    """VRAM that these processes (default: this one) hold on all GPUs, or None where nothing can
    tell (no GPU, no driver, none of them on a GPU)."""
    pids = {os.getpid()} if pids is None else set(pids)
    pynvml = _nvml()
    if pynvml is not None:
        return _vram_from_nvml(pynvml, pids)
    exe = shutil.which("nvidia-smi")
    return _vram_from_nvidia_smi(exe, pids) if exe else None


def vram_probe_available() -> bool:
    """Whether process_vram_bytes can ever answer here (NVML initialises, or nvidia-smi is on PATH)."""
    pynvml = _nvml()
    if pynvml is not None:
        _shutdown(pynvml)
        return True
    return shutil.which("nvidia-smi") is not None


class VramSampler:
    """Peak GPU memory of this process and its descendants (a bench cell and the lab's grader child),
    from process_vram_bytes every half second. peak stays None without a GPU."""

    def __init__(self, interval_s: float = 0.5):
        self.enabled = vram_probe_available()
        self.interval_s = interval_s
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> VramSampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join(timeout=15)

    def _pids(self) -> set[int]:
        import psutil

        me = psutil.Process()
        return {me.pid} | {c.pid for c in me.children(recursive=True)}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                used = process_vram_bytes(self._pids())
                if used:
                    self.peak = max(self.peak or 0, used)
            except Exception:
                pass
            self._stop.wait(self.interval_s)
