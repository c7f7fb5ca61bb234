"""Memory bandwidth for a result file (measured by harness/hw/bandwidth.py), and the decode-efficiency
figure built on it.

Decoding one token reads (roughly) every weight once, so bandwidth / model bytes is a ceiling on
decode tok/s for a memory-bound model. See docs/benchmarks.md for where this misleads.
"""

from __future__ import annotations

from harness.bench.schema import Bandwidth, Stat
from harness.bench.stats import summarize
from harness.hw import bandwidth as hw_bandwidth


def cpu_copy_bandwidth(n_bytes: int = 256 * 1024 * 1024, repeats: int = 5) -> Bandwidth:
    """The CPU copy rate over `repeats` runs; the best run is the figure."""
    rates, method = hw_bandwidth.cpu_copy_rates(n_bytes, repeats)
    return Bandwidth(cpu_copy_gb_s=summarize(rates, "GB/s"), cpu_method=method, note=hw_bandwidth.CPU_COPY_NOTE)


def decode_efficiency(
    decode_tok_s: float | None, bandwidth_gb_s: float | None, model_bytes: int | None
) -> float | None:
    """Measured decode tok/s over the bandwidth ceiling (bandwidth / model bytes). None when unknown."""
    if not decode_tok_s or not bandwidth_gb_s or not model_bytes:
        return None
    ceiling = bandwidth_gb_s * 1e9 / model_bytes
    return decode_tok_s / ceiling


def gpu_copy_bandwidth(n_bytes: int = 1024 * 1024 * 1024, repeats: int = 5) -> tuple[Stat | None, str]:
    """The GPU's device copy rate (torch or cupy, when installed): (Stat or None, method or why not)."""
    rates, method = hw_bandwidth.gpu_copy_rates(n_bytes, repeats)
    return (summarize(rates, "GB/s") if rates is not None else None), method


def measure(include_gpu: bool) -> Bandwidth:
    bw = cpu_copy_bandwidth()
    if include_gpu:
        bw.gpu_copy_gb_s, bw.gpu_method = gpu_copy_bandwidth()
    return bw
