"""Memory bandwidth measured on the spot, and the decode-efficiency figure built on it.

Decoding one token reads (roughly) every weight once, so bandwidth / model bytes is a ceiling on
decode tok/s for a memory-bound model. See docs/benchmarks.md for where this misleads.
"""

from __future__ import annotations

import time

from harness.bench.schema import Bandwidth
from harness.bench.stats import summarize


def cpu_copy_bandwidth(n_bytes: int = 256 * 1024 * 1024, repeats: int = 5) -> Bandwidth:
    """STREAM-style copy: dst[:] = src over arrays far larger than any cache.
    Counts bytes read + bytes written (2 x array size), as STREAM's Copy does; the best run is the figure."""
    import numpy as np

    n = n_bytes // 8
    src = np.ones(n, dtype=np.float64)  # touch every page now, not inside the timed copy
    dst = np.ones(n, dtype=np.float64)  # np.zeros would map pages lazily: the first copy measured 0.5 GB/s
    np.copyto(dst, src)  # warm-up, as llama-bench warms up
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        dt = time.perf_counter() - t0
        rates.append(2 * n * 8 / dt / 1e9)
    del src, dst
    stat = summarize(rates, "GB/s")
    return Bandwidth(
        cpu_copy_gb_s=stat,
        cpu_method=f"numpy copyto of {n_bytes // (1024 * 1024)} MiB float64, {repeats} runs, read+write bytes; best = max",
        note="single-threaded numpy copy: a lower bound on what all cores together can draw",
    )


def decode_efficiency(decode_tok_s: float | None, bandwidth_gb_s: float | None, model_bytes: int | None) -> float | None:
    """Measured decode tok/s over the bandwidth ceiling (bandwidth / model bytes). None when unknown."""
    if not decode_tok_s or not bandwidth_gb_s or not model_bytes:
        return None
    ceiling = bandwidth_gb_s * 1e9 / model_bytes
    return decode_tok_s / ceiling


def gpu_copy_bandwidth(n_bytes: int = 1024 * 1024 * 1024, repeats: int = 5) -> tuple[object | None, str]:
    """Device-to-device copy with torch or cupy when one of them is installed (the harness needs neither).
    Returns (Stat or None, method or the reason it was not measured)."""
    try:
        import torch  # type: ignore

        if torch.cuda.is_available():
            src = torch.ones(n_bytes // 4, dtype=torch.float32, device="cuda")
            dst = torch.empty_like(src)
            rates = []
            for _ in range(repeats):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                dst.copy_(src)
                torch.cuda.synchronize()
                rates.append(2 * n_bytes / (time.perf_counter() - t0) / 1e9)
            return summarize(rates, "GB/s"), f"torch device copy of {n_bytes >> 20} MiB, read+write bytes"
    except Exception:
        pass
    try:
        import cupy  # type: ignore

        src = cupy.ones(n_bytes // 4, dtype=cupy.float32)
        dst = cupy.empty_like(src)
        rates = []
        for _ in range(repeats):
            cupy.cuda.Device().synchronize()
            t0 = time.perf_counter()
            cupy.copyto(dst, src)
            cupy.cuda.Device().synchronize()
            rates.append(2 * n_bytes / (time.perf_counter() - t0) / 1e9)
        return summarize(rates, "GB/s"), f"cupy device copy of {n_bytes >> 20} MiB, read+write bytes"
    except Exception:
        pass
    return None, "not measured: needs torch or cupy with CUDA (optional)"


def measure(include_gpu: bool) -> Bandwidth:
    bw = cpu_copy_bandwidth()
    if include_gpu:
        stat, method = gpu_copy_bandwidth()
        bw.gpu_copy_gb_s = stat  # type: ignore[assignment]
        bw.gpu_method = method
    return bw
