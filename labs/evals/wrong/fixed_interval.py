"""Wrong solution of evals: the accuracy's interval is a fixed +-0.05 whatever the number of
items, so 7 right of 20 looks as precise as 950 of 1000: interval_match_rate must fail."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import cohen_kappa, is_majority_classifier, judge, majority_baseline, paired_test  # noqa: E402,F401


def accuracy_interval(correct):
    acc = sum(correct) / len(correct)
    return acc, max(0.0, acc - 0.05), min(1.0, acc + 0.05)
