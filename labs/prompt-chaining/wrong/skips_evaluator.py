"""WRONG on purpose: the chain skips the evaluator - the model computes the chosen expression.

The prompt-chaining reference with solve_chain replaced: the model picks the expression as in
the reference, then is asked for its value instead of giving it to safe_eval. Fails
chain_steps_used (safe_eval never runs, and the model is called outside choose_expression).
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import ANSWER_SCHEMA, candidate_expressions, choose_expression, extract_numbers, safe_eval, solve_single  # noqa: E402,F401


def solve_chain(llm, body: str, question: str) -> float | None:
    candidates = candidate_expressions(extract_numbers(body))
    if not candidates:
        return None
    expression = choose_expression(llm, body, question, candidates)
    reply = llm.chat(
        [{"role": "system", "content": "Compute the expression."}, {"role": "user", "content": expression}],
        max_tokens=24,
        temperature=0.0,
        schema=ANSWER_SCHEMA,
    )
    try:
        return float(json.loads(reply.text)["answer"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
