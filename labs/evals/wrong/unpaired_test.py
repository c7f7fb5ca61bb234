"""Wrong solution of evals: the two prompts are compared with a two-proportion z-test on their
accuracies, as if they had run on different items. It throws away which items each prompt got
right, so it misses a real gain and calls a noisy split significant:
paired_verdict_match_rate (and paired_p_match_rate) must fail."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import ALPHA, accuracy_interval, cohen_kappa, is_majority_classifier, judge, majority_baseline  # noqa: E402,F401


def paired_test(a_correct, b_correct):
    n_a, n_b = len(a_correct), len(b_correct)
    p_a, p_b = sum(a_correct) / n_a, sum(b_correct) / n_b
    pooled = (sum(a_correct) + sum(b_correct)) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0, "not significant"
    z = (p_b - p_a) / se
    p = 2 * (1 - NormalDist().cdf(abs(z)))
    if p >= ALPHA:
        return p, "not significant"
    return p, "B is better" if z > 0 else "A is better"
