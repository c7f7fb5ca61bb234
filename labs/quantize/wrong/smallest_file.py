"""Wrong solution of quantize: chooses the smallest file, whatever it does to retrieval. TQ2_0 is
the smallest (18.9 MB) and loses ~0.12 of recall@1 on MiniLM; choice_correct must fail."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import measure, quantize  # noqa: E402,F401  (quantising and measuring are right)


def choose(table, tolerance):
    return min(table, key=lambda t: table[t]["size_bytes"])
