"""WRONG on purpose (never passes the seed to the model): the first-tokens grader must fail it.
The reference with sample replaced."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import chat_once, stream_and_time  # noqa: E402,F401


def sample(llm, prompt: str, temperature: float, seed: int, stop: list[str] | None = None, max_tokens: int = 24) -> str:
    messages = [{"role": "user", "content": prompt}]
    return llm.chat(messages, max_tokens=max_tokens, temperature=temperature, stop=stop).text
