"""Spread and significance: median/p50/p95/stddev, paired bootstrap, exact McNemar test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


def _arr(xs: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(list(xs), dtype=float)
    if a.size == 0:
        raise ValueError("need at least one value")
    return a


def median(xs: Sequence[float]) -> float:
    return float(np.median(_arr(xs)))


def percentile(xs: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError("q must be in [0, 100]")
    return float(np.percentile(_arr(xs), q))


def p50(xs: Sequence[float]) -> float:
    return percentile(xs, 50)


def p95(xs: Sequence[float]) -> float:
    return percentile(xs, 95)


def stddev(xs: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (n-1); 0.0 for a single value."""
    a = _arr(xs)
    return float(a.std(ddof=1)) if a.size > 1 else 0.0


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    median: float
    p95: float
    stddev: float
    min: float
    max: float

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(xs: Sequence[float]) -> Summary:
    a = _arr(xs)
    return Summary(
        n=int(a.size),
        mean=float(a.mean()),
        median=float(np.median(a)),
        p95=float(np.percentile(a, 95)),
        stddev=stddev(a),
        min=float(a.min()),
        max=float(a.max()),
    )


@dataclass(frozen=True)
class BootstrapResult:
    delta: float  # mean(b) - mean(a) on the observed pairs
    ci_low: float
    ci_high: float
    p_value: float  # two-sided: how often the resampled delta falls on the other side of 0
    n: int
    resamples: int
    confidence: float

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> BootstrapResult:
    """Is system b better than system a on the same items? Resample items with replacement,
    keeping each item's pair of scores together (percentile interval of mean(b - a))."""
    x, y = _arr(a), _arr(b)
    if x.shape != y.shape:
        raise ValueError("paired scores need the same number of items")
    d = y - x
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(resamples, d.size))
    means = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    observed = float(d.mean())
    if observed == 0:
        p = 1.0
    else:
        other_side = np.mean(means <= 0) if observed > 0 else np.mean(means >= 0)
        p = float(min(1.0, 2 * other_side))
    return BootstrapResult(
        delta=observed,
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=p,
        n=int(d.size),
        resamples=resamples,
        confidence=confidence,
    )


@dataclass(frozen=True)
class McNemarResult:
    b: int  # a right, b wrong
    c: int  # a wrong, b right
    p_value: float  # exact two-sided binomial test on the discordant pairs

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> McNemarResult:
    """Exact McNemar test: under H0 the discordant pairs split 50/50 (binomial, two-sided)."""
    if len(a_correct) != len(b_correct):
        raise ValueError("paired outcomes need the same number of items")
    b = sum(1 for x, y in zip(a_correct, b_correct) if x and not y)
    c = sum(1 for x, y in zip(a_correct, b_correct) if y and not x)
    n = b + c
    if n == 0:
        return McNemarResult(b=0, c=0, p_value=1.0)
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return McNemarResult(b=b, c=c, p_value=min(1.0, 2 * tail))


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no judgements of the same items: (p_o - p_e) / (1 - p_e).
    None when undefined: both raters gave one and the same label to every item (p_e = 1)."""
    if len(a) != len(b) or not a:
        raise ValueError("kappa needs two equally long, non-empty lists")
    n = len(a)
    po = sum(bool(x) == bool(y) for x, y in zip(a, b)) / n
    pa, pb = sum(map(bool, a)) / n, sum(map(bool, b)) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1:
        return None
    return (po - pe) / (1 - pe)
