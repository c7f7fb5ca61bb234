"""prompt-chaining: solve one-operation SVAMP word problems with a chain of steps that each do one job.

A problem is a body and a question:
    body     = "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack"
    question = "How much do you have to pay to buy each pack?"          (answer: 76 - 25 = 51)

  1. extract_numbers(body) -> list[float]                  a regex: [76.0, 25.0]
  2. candidate_expressions(numbers) -> list[str]           Python: ["76 + 25", "76 - 25", "76 * 25", "76 / 25"]
  3. choose_expression(llm, body, question, candidates)    the model picks ONE candidate (JSON-schema enum)
  4. safe_eval(expression) -> float                        Python computes it, safely (ast, never eval)
  solve_chain(llm, body, question) -> float | None         1 -> 2 -> 3 -> 4
  solve_single(llm, body, question) -> float | None        baseline: one prompt, the answer as a JSON number

`llm.chat(messages, max_tokens=..., temperature=0.0, schema=...)` returns a Completion (.text).
A JSON schema constrains what the model can write: {"type": "string", "enum": [...]} allows only
those strings, {"type": "number"} only a number.
Run `harness check prompt-chaining`.
"""

from __future__ import annotations

import ast  # noqa: F401  (safe_eval walks the syntax tree)
import itertools  # noqa: F401
import json  # noqa: F401
import re  # noqa: F401


def extract_numbers(body: str) -> list[float]:
    """The numbers of the body, in the order they appear, each once: "3 apples and 12 pears" -> [3.0, 12.0]."""
    # TODO: re.findall(r"\d+(?:\.\d+)?", body)
    raise NotImplementedError


def candidate_expressions(numbers: list[float]) -> list[str]:
    """Every expression "a op b" (op one of + - * /) the answer could be, over two of the numbers.
    Each candidate must use two of the given numbers; keep the list short (the model chooses
    better among fewer)."""
    # TODO: itertools.combinations(numbers, 2); think about which order a - b and a / b need
    raise NotImplementedError


def choose_expression(llm, body: str, question: str, candidates: list[str]) -> str:
    """The model picks one of the candidates. Constrain its reply with a JSON schema whose
    string is an enum of the candidates, and return the chosen candidate."""
    # TODO: llm.chat(messages, ..., schema={"type": "object", "properties": {"expression": {"enum": ...}}, ...})
    raise NotImplementedError


def safe_eval(expression: str) -> float:
    """Compute + - * / and parentheses over numbers. Anything else (names, calls,
    attribute access, **, strings) must raise ValueError. Never call eval() or exec()."""
    # TODO: ast.parse(expression, mode="eval") and walk the tree, allowing only a few node types
    raise NotImplementedError


def solve_chain(llm, body: str, question: str) -> float | None:
    """extract_numbers -> candidate_expressions -> choose_expression -> safe_eval; return the
    value, or None when there is nothing to choose from. The model is called only in
    choose_expression (the grader records each step)."""
    # TODO
    raise NotImplementedError


def solve_single(llm, body: str, question: str) -> float | None:
    """Baseline: one prompt asking for the answer, constrained to a JSON number; return that
    number (None if the reply is not complete JSON)."""
    # TODO
    raise NotImplementedError
