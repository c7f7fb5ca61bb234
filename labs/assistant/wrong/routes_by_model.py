"""Wrong solution of assistant: route() asks the chat model which tool to use (a JSON-schema enum
{calculator, search}, zero-shot). The 135M model cannot route by instruction: about half of the
items go to the wrong tool. routing_accuracy must fail."""

from __future__ import annotations

import json
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution  # noqa: E402
from solution import answer, build_index, calculator, search, tool_schemas  # noqa: E402,F401

ROUTE_SCHEMA = {
    "type": "object",
    "properties": {"tool": {"type": "string", "enum": ["calculator", "search"]}},
    "required": ["tool"],
    "additionalProperties": False,
}


def route(llm, embedder, item):
    messages = [
        {
            "role": "system",
            "content": "Choose the tool for the request: calculator for arithmetic word "
            "problems, search for questions about facts in articles.",
        },
        {"role": "user", "content": item["text"]},
    ]
    return json.loads(llm.chat(messages, max_tokens=24, temperature=0.0, seed=0, schema=ROUTE_SCHEMA).text)["tool"]


solution.route = route  # answer() routes through it too
