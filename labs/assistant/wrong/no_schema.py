"""Wrong solution of assistant: the model writes the calculator's arguments with no schema (the
same prompt and worked examples as the reference, asked for JSON in words only), and the reply
goes to the tool as it comes. What the model writes is often not "a op b" over the problem's
numbers: valid_tool_calls must fail."""

from __future__ import annotations

import json
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution  # noqa: E402
from solution import answer, build_index, calculator, route, search, tool_schemas  # noqa: E402,F401


def calculator_arguments(llm, text, exclude=()):
    messages = [{"role": "system", "content": solution.CHOOSE_SYSTEM + ' Reply with JSON: {"expression": "a op b"}.'}]
    for problem, expression in solution.EXAMPLES:
        messages += [
            {"role": "user", "content": problem},
            {"role": "assistant", "content": json.dumps({"expression": expression})},
        ]
    messages.append({"role": "user", "content": text})
    reply = llm.chat(messages, max_tokens=40, temperature=0.0, seed=0).text  # no schema
    try:
        arguments = json.loads(reply)
    except ValueError:
        arguments = None
    return arguments if isinstance(arguments, dict) and "expression" in arguments else {"expression": reply.strip()}


solution.calculator_arguments = calculator_arguments  # answer() fills the arguments through it
