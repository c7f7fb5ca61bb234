"""WRONG on purpose: choose_expression asks the model for the result, not for an expression.

The prompt-chaining reference with choose_expression replaced: the model is asked for the answer
as a JSON number (the same worked examples, with their answers), and that number goes on as the
"expression" (safe_eval("51") is 51.0). Every step still runs, but the model does the arithmetic,
which is the single prompt under another name: fails chain_steps_used (the "expression" is not
one of the candidates) and, on the real model, chain_accuracy and the chain-vs-single criteria.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution as reference  # noqa: E402
from solution import ANSWER_SCHEMA, EXAMPLES, candidate_expressions, extract_numbers, safe_eval, solve_single  # noqa: E402,F401


def choose_expression(llm, body: str, question: str, candidates: list[str]) -> str:
    messages = [{"role": "system", "content": "Answer the math problem with a number."}]
    for b, q, e in EXAMPLES:
        messages += [
            {"role": "user", "content": f"{b}\n{q}"},
            {"role": "assistant", "content": json.dumps({"answer": int(safe_eval(e))})},
        ]
    messages.append({"role": "user", "content": f"{body}\n{question}"})
    reply = llm.chat(messages, max_tokens=24, temperature=0.0, schema=ANSWER_SCHEMA)
    try:
        return str(json.loads(reply.text)["answer"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return "0"


# The reference's solve_chain, looking its steps up in this file (so it uses choose_expression above).
solve_chain = types.FunctionType(reference.solve_chain.__code__, globals(), "solve_chain")
