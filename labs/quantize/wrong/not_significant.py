"""Wrong solution of quantize: keeps every type whose recall@1 is "not significantly below" F16's
(exact McNemar p >= 0.05), then the smallest. Absence of evidence is not evidence of absence: on a
few dozen questions TQ2_0's loss is not significant (p ~0.7 on 15), so this picks it, although
its interval reaches far below -tolerance. choice_correct must fail."""

from __future__ import annotations

from pathlib import Path

from harness.grading.stats import mcnemar_exact
from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import measure, quantize  # noqa: E402,F401  (quantising and measuring are right)


def choose(table, tolerance):
    base = table["F16"]["hits@1"]
    ok = [
        t
        for t, row in table.items()
        if row["recall@1"] >= table["F16"]["recall@1"] or mcnemar_exact(base, row["hits@1"]).p_value >= 0.05
    ]
    return min(ok, key=lambda t: table[t]["size_bytes"])
