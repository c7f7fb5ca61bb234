"""Scorers for model outputs: exact match, numeric match, token F1, recall@k, accuracy with a CI."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalize_text(s: str) -> str:
    """SQuAD-style: lowercase, no punctuation, no articles, single spaces."""
    s = s.lower().translate(_PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str | Sequence[str], *, normalize: bool = True) -> bool:
    golds = [gold] if isinstance(gold, str) else list(gold)
    f = normalize_text if normalize else (lambda x: x.strip())
    return any(f(prediction) == f(g) for g in golds)


def contains_answer(prediction: str, gold: str | Sequence[str]) -> bool:
    """The normalized gold (any alias) occurs as whole words in the normalized prediction."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    p = f" {normalize_text(prediction)} "
    return any(f" {normalize_text(g)} " in p for g in golds if normalize_text(g))


def extract_numbers(text: str) -> list[float]:
    out = []
    for m in _NUMBER.findall(text):
        try:
            out.append(float(m.replace(",", "")))
        except ValueError:
            pass
    return out


def parse_number(text: str, *, which: str = "last") -> float | None:
    """The last (or first) number in a text, "1,234.5" -> 1234.5; GSM8K's "#### 42" gold works too."""
    if "####" in text:
        text = text.split("####")[-1]
    nums = extract_numbers(text)
    if not nums:
        return None
    return nums[-1] if which == "last" else nums[0]


def numeric_match(
    prediction: str | float | None, gold: str | float, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6
) -> bool:
    p = parse_number(prediction) if isinstance(prediction, str) else prediction
    g = parse_number(gold) if isinstance(gold, str) else gold
    if p is None or g is None:
        return False
    return math.isclose(float(p), float(g), rel_tol=rel_tol, abs_tol=abs_tol)


def token_f1(prediction: str, gold: str) -> float:
    p, g = normalize_text(prediction).split(), normalize_text(gold).split()
    if not p and not g:
        return 1.0
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def recall_at_k(retrieved: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Fraction of the relevant ids found in the first k retrieved (1.0 = all of them)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    rel = set(relevant)
    if not rel:
        raise ValueError("an item needs at least one relevant id")
    return len(rel & set(list(retrieved)[:k])) / len(rel)


def hit_at_k(retrieved: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> bool:
    """Any relevant id in the first k (the usual "recall@k" of one-gold retrieval sets)."""
    rel = set(relevant)
    return any(r in rel for r in list(retrieved)[:k])


def mean_recall_at_k(results: Sequence[Sequence[Hashable]], golds: Sequence[Iterable[Hashable]], k: int) -> float:
    if len(results) != len(golds) or not results:
        raise ValueError("need as many result lists as gold sets, and at least one")
    return sum(recall_at_k(r, g, k) for r, g in zip(results, golds)) / len(results)


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int
    value: float
    ci_low: float  # Wilson score interval
    ci_high: float
    confidence: float

    def to_dict(self) -> dict:
        return {
            "correct": self.correct,
            "n": self.n,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
        }


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n <= 0:
        raise ValueError("n must be >= 1")
    if not 0 <= correct <= n:
        raise ValueError("correct must be between 0 and n")
    z = _z(confidence)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if correct == 0 else max(0.0, centre - half)  # exact ends, not rounding noise
    hi = 1.0 if correct == n else min(1.0, centre + half)
    return lo, hi


def accuracy(outcomes: Iterable[bool], confidence: float = 0.95) -> Accuracy:
    flags = [bool(x) for x in outcomes]
    n, c = len(flags), sum(flags)
    lo, hi = wilson_interval(c, n, confidence)
    return Accuracy(correct=c, n=n, value=c / n, ci_low=lo, ci_high=hi, confidence=confidence)
