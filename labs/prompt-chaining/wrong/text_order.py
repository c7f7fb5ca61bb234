"""WRONG on purpose: candidate_expressions writes a - b and a / b in the text's order only.

The prompt-chaining reference with candidate_expressions replaced. "Dan had $ 3 left after he
bought a candy bar. If he had $ 4 at the start" needs 4 - 3, which this never offers: the gold
expression is missing for about a third of the problems. Fails candidate_coverage.
"""

from __future__ import annotations

import itertools
import types
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution as reference  # noqa: E402
from solution import choose_expression, extract_numbers, safe_eval, solve_single  # noqa: E402,F401


def candidate_expressions(numbers: list[float]) -> list[str]:
    out = []
    for a, b in itertools.combinations(numbers, 2):
        x, y = reference._fmt(a), reference._fmt(b)
        out += [f"{x} + {y}", f"{x} - {y}", f"{x} * {y}"] + ([f"{x} / {y}"] if b else [])
    return out


# The reference's solve_chain, looking its steps up in this file (so it uses candidate_expressions above).
solve_chain = types.FunctionType(reference.solve_chain.__code__, globals(), "solve_chain")
