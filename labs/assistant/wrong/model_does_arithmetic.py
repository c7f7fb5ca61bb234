"""Wrong solution of assistant: a word problem is answered by the model itself (the answer as a
JSON number), without calling the calculator. The routing is right, but the calculator half is
the bare model under another name, and its items have no tool call in their trace:
calculator_minus_bare_ci_low, calculator_vs_bare_mcnemar_p and trace_ok_rate must fail."""

from __future__ import annotations

import json
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution  # noqa: E402
from solution import build_index, calculator, route, search, tool_schemas  # noqa: E402,F401

NUMBER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "number"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def answer(llm, embedder, tools, item, max_steps):
    if route(llm, embedder, item) != "calculator":
        return solution.answer(llm, embedder, tools, item, max_steps)
    messages = [
        {"role": "system", "content": 'Solve the math word problem. Reply with JSON: {"answer": number}.'},
        {"role": "user", "content": item["text"]},
    ]
    reply = llm.chat(messages, max_tokens=16, temperature=0.0, seed=0, schema=NUMBER_SCHEMA).text
    try:
        value = json.loads(reply)["answer"]
    except (ValueError, KeyError, TypeError):
        value = ""
    return {"answer": str(value), "trace": []}
