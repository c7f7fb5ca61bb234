"""WRONG on purpose: no constraint - the reply is parsed with regular expressions.

structured-output, the reference with extract replaced."""

from __future__ import annotations

import re
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_messages, build_schema, extract_unconstrained  # noqa: E402,F401


def extract(llm, problem: str) -> dict:
    # Looks robust: whatever the model writes, pull the fields out with regexes (no schema sent).
    text = llm.chat(build_messages(problem), max_tokens=96, temperature=0.0).text
    first = re.search(r"-?\d+(?:\.\d+)?", text)
    m = re.search(r'"question"\s*:\s*"([^"]*)', text)
    return {"first_number": float(first.group()) if first else 0.0, "question": m.group(1) if m else text}
