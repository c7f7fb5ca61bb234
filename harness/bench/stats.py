"""Summaries with spread: every figure in a result file is a Stat, never a bare number."""

from __future__ import annotations

import math
import statistics
from typing import Iterable

from harness.bench.schema import Stat


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(values: Iterable[float | None], unit: str | None = None) -> Stat:
    vals = sorted(float(v) for v in values if v is not None and math.isfinite(float(v)))
    if not vals:
        return Stat(n=0, unit=unit)
    return Stat(
        mean=statistics.fmean(vals),
        median=statistics.median(vals),
        p95=percentile(vals, 0.95),
        stddev=statistics.stdev(vals) if len(vals) > 1 else 0.0,
        min=vals[0],
        max=vals[-1],
        n=len(vals),
        unit=unit,
    )


def single(value: float | None, unit: str | None = None) -> Stat:
    return summarize([value], unit)
