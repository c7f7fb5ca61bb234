"""Wrong solution of evals: the accuracy's interval is a fixed +-0.05 whatever the number of
items, so 7 right of 20 looks as precise as 950 of 1000: interval_match_rate must fail."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "evals"))
sys.modules.pop("solution", None)  # a test may have imported another lab's solution.py under that name
from solution import (cohen_kappa, is_majority_classifier, judge, majority_baseline,  # noqa: E402,F401
                      paired_test)


def accuracy_interval(correct):
    acc = sum(correct) / len(correct)
    return acc, max(0.0, acc - 0.05), min(1.0, acc + 0.05)
