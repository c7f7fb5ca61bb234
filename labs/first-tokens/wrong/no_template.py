"""WRONG on purpose (asks with a raw completion, no chat template): the first-tokens grader must fail it.
The reference with chat_once replaced."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import sample, stream_and_time  # noqa: E402,F401


def chat_once(llm, question: str, max_tokens: int = 32) -> str:
    return llm.complete(question, max_tokens=max_tokens, temperature=0.0).text
