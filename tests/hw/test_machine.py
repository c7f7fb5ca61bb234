"""CPU facts and llama.cpp's system info (harness/hw/cpu.py, llama_info.py, machine.py)."""

from __future__ import annotations

from harness.hw import cpu
from harness.hw.llama_info import parse_system_info
from harness.hw.machine import system_info


def test_default_threads_fit_the_cores_this_process_may_use():
    assert 1 <= cpu.default_threads() <= cpu.usable_cores()
    assert cpu.default_threads() <= cpu.physical_cores()


def test_parse_llama_system_info():
    text = (
        "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 | LLAMAFILE = 1 | \nCPU : REPACK = 1 | OPENMP = 1 | DEVICE = CUDA0 | "
    )
    assert parse_system_info(text) == {
        "SSE3": True,
        "AVX2": True,
        "AVX512": False,
        "LLAMAFILE": True,
        "REPACK": True,
        "OPENMP": True,
        "DEVICE": "CUDA0",
    }
    assert parse_system_info("") == {}


def test_system_info_without_gpus_names_no_host():
    info = system_info(with_gpus=False)
    assert (
        "gpus" not in info
        and info["cpu_physical_cores"] >= 1
        and info["ram_total_bytes"] >= info["ram_available_bytes"] > 0
    )
    assert sorted(info) == [
        "arch",
        "cpu_logical_cores",
        "cpu_model",
        "cpu_physical_cores",
        "cpu_usable_cores",
        "os",
        "python",
        "ram_available_bytes",
        "ram_total_bytes",
    ]
