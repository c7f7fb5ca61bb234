"""Memory bandwidth measured on the spot: copy rates in GB/s, counting bytes read + bytes written
(2 x the array), as STREAM's Copy does. harness/bench/bandwidth.py summarises them for result files."""

from __future__ import annotations

import time

CPU_COPY_NOTE = "single-threaded numpy copy: a lower bound on what all cores together can draw"


def cpu_copy_rates(n_bytes: int = 256 * 1024 * 1024, repeats: int = 5) -> tuple[list[float], str]:
    """STREAM-style copy, dst[:] = src over arrays far larger than any cache: (GB/s per run, method)."""
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
    return (
        rates,
        f"numpy copyto of {n_bytes // (1024 * 1024)} MiB float64, {repeats} runs, read+write bytes; best = max",
    )


def gpu_copy_rates(n_bytes: int = 1024 * 1024 * 1024, repeats: int = 5) -> tuple[list[float] | None, str]:
    """Device-to-device copy with torch or cupy when one of them is installed (the harness needs neither).
    Returns (GB/s per run, method), or (None, the reason it was not measured)."""
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
            return rates, f"torch device copy of {n_bytes >> 20} MiB, read+write bytes"
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
        return rates, f"cupy device copy of {n_bytes >> 20} MiB, read+write bytes"
    except Exception:
        pass
    return None, "not measured: needs torch or cupy with CUDA (optional)"
