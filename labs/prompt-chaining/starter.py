"""prompt-chaining: split a GSM8K problem into steps that each do one thing.

  1. write_expression(llm, problem) -> str   the model writes ONE arithmetic expression
  2. safe_eval(expression) -> float          Python computes it, safely (ast, never eval)
  3. format_answer(value) -> str             the number written the GSM8K way ("72", "0.5")
  solve_chain(llm, problem) -> str           1 -> 2 -> 3
  solve_single(llm, problem) -> str          baseline: one prompt, answer from the reply

`llm.chat(messages, max_tokens=..., temperature=..., schema=...)` returns a Completion (.text).
A JSON schema with a "pattern" on a string field constrains what the model can write.
Run `harness check prompt-chaining`.
"""

from __future__ import annotations

import ast  # noqa: F401  (safe_eval walks the syntax tree)
import json  # noqa: F401
import re  # noqa: F401


def write_expression(llm, problem: str) -> str:
    """Ask the model for one arithmetic expression (numbers, + - * /, parentheses) that
    computes the answer. Constrain it with a JSON schema so it is always parseable."""
    # TODO: llm.chat(..., schema={"type": "object", "properties": {"expression": {...}}, ...})
    raise NotImplementedError


def safe_eval(expression: str) -> float:
    """Compute + - * / and parentheses over numbers. Anything else (names, calls,
    attribute access, **, strings) must raise ValueError. Never call eval() or exec()."""
    # TODO: ast.parse(expression, mode="eval") and walk the tree, allowing only a few node types
    raise NotImplementedError


def format_answer(value: float) -> str:
    """72.0 -> "72", 0.5 -> "0.5", 2.25 -> "2.25"."""
    # TODO
    raise NotImplementedError


def solve_chain(llm, problem: str) -> str:
    """write_expression -> safe_eval -> format_answer; return "" if a step fails."""
    # TODO: call the three steps above (the grader checks each one runs)
    raise NotImplementedError


def solve_single(llm, problem: str) -> str:
    """Baseline: one prompt asking for the answer; return the last number of the reply."""
    # TODO
    raise NotImplementedError
