"""GPU detection and the VRAM probe (harness/hw/gpu.py) on captured nvidia-smi text and a fake NVML:
no GPU needed, and without one everything answers "none"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from harness.hw import gpu
from harness.hw.gpu import GpuInfo, VramSampler, detect_gpus, parse_compute_apps, parse_nvidia_smi, process_vram_bytes
from harness.hw.memory import GiB, MiB

OTHER_PID = 4242


def fake_nvml(*, init_fails: bool = False, processes=()):
    """A stand-in for nvidia-ml-py's pynvml: one H200, and the given (pid, bytes) compute processes."""

    def init():
        if init_fails:
            raise RuntimeError("NVML Shared Library Not Found")

    return SimpleNamespace(
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlSystemGetDriverVersion=lambda: b"550.54.15",  # older nvidia-ml-py returns bytes
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"handle{i}",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=141 * GiB, free=140 * GiB),
        nvmlDeviceGetName=lambda h: "NVIDIA H200",
        nvmlDeviceGetCudaComputeCapability=lambda h: (9, 0),
        nvmlDeviceGetComputeRunningProcesses=lambda h: [SimpleNamespace(pid=p, usedGpuMemory=b) for p, b in processes],
    )


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError


def fake_nvidia_smi(monkeypatch, *, gpus: str = "", apps: str = "") -> list[list[str]]:
    """nvidia-smi on PATH, answering --query-gpu with `gpus` and --query-compute-apps with `apps`."""
    calls: list[list[str]] = []

    def run(argv, **kwargs):
        calls.append(argv)
        out = apps if any(a.startswith("--query-compute-apps") for a in argv) else gpus
        return subprocess.CompletedProcess(argv, 0, stdout=out, stderr="")

    monkeypatch.setattr(gpu.shutil, "which", lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None)
    monkeypatch.setattr(gpu.subprocess, "run", run)
    return calls


def test_parse_nvidia_smi():  # from tests/backends/test_device.py
    text = (
        "0, NVIDIA GeForce RTX 4090, 24564, 23012, 550.54.14, 8.9\n"
        "1, NVIDIA GeForce GTX 1080, 8192, 8000, 550.54.14, [N/A]\n"
        "garbage line\n"
    )
    gpus = parse_nvidia_smi(text)
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce GTX 1080"]
    assert gpus[0].free_bytes == 23012 * MiB and gpus[0].compute_capability == "8.9"
    assert gpus[0].vram_bytes == 24564 * MiB and gpus[0].driver == "550.54.14" and gpus[0].index == 0
    assert gpus[1].compute_capability is None
    assert parse_nvidia_smi("") == []


def test_parse_compute_apps_sums_a_process_over_gpus():
    assert parse_compute_apps("1234, 500\n77, 20\n1234, 100\n99, [N/A]\nNo running processes found\n") == {
        1234: 600 * MiB,
        77: 20 * MiB,
    }
    assert parse_compute_apps("") == {}


def test_detect_gpus_asks_nvml_first(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    calls = fake_nvidia_smi(monkeypatch, gpus="0, other, 1, 1, 1\n")
    [g] = detect_gpus()
    assert g == GpuInfo(
        index=0,
        name="NVIDIA H200",
        vram_bytes=141 * GiB,
        free_bytes=140 * GiB,
        driver="550.54.15",
        compute_capability="9.0",
    )
    assert calls == []  # nvidia-smi not asked
    assert g.to_dict() == {
        "index": 0,
        "name": "NVIDIA H200",
        "total_bytes": 141 * GiB,
        "free_bytes": 140 * GiB,
        "driver": "550.54.15",
        "compute_capability": "9.0",
    }  # `harness doctor --json`'s shape


def test_nvml_that_cannot_start_falls_back_to_nvidia_smi(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_fails=True))
    fake_nvidia_smi(
        monkeypatch, gpus="0, NVIDIA L4, 23034, 22000, 550.54.15, 8.9\n", apps=f"{os.getpid()}, 300\n{OTHER_PID}, 50\n"
    )
    [g] = detect_gpus()
    assert (g.name, g.vram_bytes, g.compute_capability) == ("NVIDIA L4", 23034 * MiB, "8.9")
    assert process_vram_bytes() == 300 * MiB
    assert process_vram_bytes({os.getpid(), OTHER_PID}) == 350 * MiB
    assert process_vram_bytes({1}) is None  # on no GPU


def test_process_vram_from_nvml(monkeypatch):
    monkeypatch.setitem(
        sys.modules,
        "pynvml",
        fake_nvml(processes=[(os.getpid(), 700 * MiB), (OTHER_PID, 5 * MiB), (OTHER_PID + 1, None)]),
    )
    assert process_vram_bytes() == 700 * MiB
    assert process_vram_bytes([os.getpid(), OTHER_PID]) == 705 * MiB
    assert process_vram_bytes([OTHER_PID + 1]) is None  # NVML could not tell its memory
    assert gpu.vram_probe_available()


def test_without_a_gpu_everything_says_none(monkeypatch, no_nvml):
    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)
    assert detect_gpus() == []
    assert process_vram_bytes() is None
    assert not gpu.vram_probe_available()
    with VramSampler(interval_s=0.01) as sampler:
        assert not sampler.enabled
    assert sampler.peak is None


def test_sampler_keeps_the_peak_of_the_probe(monkeypatch):
    readings = iter([None, 100 * MiB, 300 * MiB, 200 * MiB])
    monkeypatch.setattr(gpu, "vram_probe_available", lambda: True)
    monkeypatch.setattr(gpu, "process_vram_bytes", lambda pids: next(readings, 0))
    with VramSampler(interval_s=0.001) as sampler:
        deadline = time.monotonic() + 10
        while sampler.peak != 300 * MiB and time.monotonic() < deadline:
            time.sleep(0.005)
    assert sampler.peak == 300 * MiB


def test_result_files_keep_the_card_only():
    """One type for detection and results; a result file records name, VRAM and driver, as before."""
    from harness.bench.schema import GpuInfo as SchemaGpu
    from harness.bench.schema import SystemInfo

    g = GpuInfo(
        index=1, name="NVIDIA H200", vram_bytes=141 * GiB, free_bytes=3 * GiB, driver="550", compute_capability="9.0"
    )
    assert SchemaGpu is GpuInfo
    assert g.model_dump(mode="json") == {"name": "NVIDIA H200", "vram_bytes": 141 * GiB, "driver": "550"}
    props = SystemInfo.model_json_schema()["$defs"]["GpuInfo"]["properties"]
    assert sorted(props) == ["driver", "name", "vram_bytes"]
    again = SystemInfo(os="Linux", python="3.11", harness_version="0", gpus=[g]).model_dump(mode="json")["gpus"]
    assert SystemInfo.model_validate({"os": "Linux", "python": "3.11", "harness_version": "0", "gpus": again}).gpus[
        0
    ] == GpuInfo(name="NVIDIA H200", vram_bytes=141 * GiB, driver="550")
