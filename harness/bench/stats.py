"""Summaries with spread: every figure in a result file is a Stat, never a bare number.
The arithmetic is harness.grading.stats'; this module only maps it onto the schema's Stat."""

from __future__ import annotations

import math
from collections.abc import Iterable

from harness.bench.schema import Quantiles, Stat
from harness.grading import stats


def summarize(values: Iterable[float | None], unit: str | None = None) -> Stat:
    """Missing and non-finite values (a failed repetition) are left out and show in n."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return Stat(n=0, unit=unit)
    s = stats.summarize(vals)
    return Stat(mean=s.mean, median=s.median, p95=s.p95, stddev=s.stddev, min=s.min, max=s.max, n=s.n, unit=unit)


def single(value: float | None, unit: str | None = None) -> Stat:
    return summarize([value], unit)


def quantiles(values: Iterable[float], unit: str | None = None) -> Quantiles:
    vals = sorted(float(v) for v in values if math.isfinite(float(v)))
    if not vals:
        return Quantiles(n=0, unit=unit)
    q = lambda p: stats.percentile(vals, p)  # noqa: E731
    return Quantiles(p50=q(50), p95=q(95), p99=q(99), max=vals[-1], n=len(vals), unit=unit)
