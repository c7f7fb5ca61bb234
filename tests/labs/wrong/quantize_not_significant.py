"""Wrong solution of quantize: keeps every type whose recall@1 is "not significantly below" F16's
(exact McNemar p >= 0.05), then the smallest. Absence of evidence is not evidence of absence: on a
few dozen questions TQ2_0's loss is not significant (p ~0.7 on 15), so this picks it, although
its interval reaches far below -tolerance. choice_correct must fail."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.grading.stats import mcnemar_exact

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "quantize"))
sys.modules.pop("solution", None)  # a test may have imported another lab's solution.py under that name
from solution import measure, quantize  # noqa: E402,F401  (quantising and measuring are right)


def choose(table, tolerance):
    base = table["F16"]["hits@1"]
    ok = [t for t, row in table.items()
          if row["recall@1"] >= table["F16"]["recall@1"] or mcnemar_exact(base, row["hits@1"]).p_value >= 0.05]
    return min(ok, key=lambda t: table[t]["size_bytes"])
