"""WRONG on purpose: safe_eval calls eval() behind a character filter.

The prompt-chaining reference with one function replaced. The filter lets through only digits,
operators, parentheses and spaces, which looks safe, but eval() still runs what gets through
("2 ** 1000000000" passes the filter). The grader replaces eval/exec/compile while it checks the
evaluator, so this fails evaluator_safe (and evaluator_exact: every refused eval is a wrong value).
"""

from __future__ import annotations

import re
import types
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution as reference  # noqa: E402
from solution import candidate_expressions, choose_expression, extract_numbers, solve_single  # noqa: E402,F401

ALLOWED = re.compile(r"[0-9+\-*/(). ]+")


def safe_eval(expression: str) -> float:
    if not ALLOWED.fullmatch(expression):
        raise ValueError(f"not arithmetic: {expression!r}")
    return float(eval(expression, {"__builtins__": {}}))  # noqa: S307 - the mistake this file is about


# The reference's solve_chain, looking its steps up in this file (so it uses the safe_eval above).
solve_chain = types.FunctionType(reference.solve_chain.__code__, globals(), "solve_chain")
