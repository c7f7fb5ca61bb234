"""Wrong solution of quantize: chooses the smallest file, whatever it does to retrieval. TQ2_0 is
the smallest (18.9 MB) and loses ~0.12 of recall@1 on MiniLM; choice_correct must fail."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "quantize"))
sys.modules.pop("solution", None)  # a test may have imported another lab's solution.py under that name
from solution import measure, quantize  # noqa: E402,F401  (quantising and measuring are right)


def choose(table, tolerance):
    return min(table, key=lambda t: table[t]["size_bytes"])
