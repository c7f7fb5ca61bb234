"""WRONG on purpose: the schema leaves out the required field `question`.

structured-output, the reference with build_schema replaced: the grammar then never lets the
model write `question`, so every constrained reply misses it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_messages, extract_unconstrained  # noqa: E402,F401


def build_schema() -> dict:
    return {
        "type": "object",
        "properties": {"first_number": {"type": "number"}},
        "required": ["first_number"],
        "additionalProperties": False,
    }


def extract(llm, problem: str) -> dict:
    # the reference's extract, with this file's schema
    reply = llm.chat(build_messages(problem), max_tokens=96, temperature=0.0, schema=build_schema())
    return json.loads(reply.text)
