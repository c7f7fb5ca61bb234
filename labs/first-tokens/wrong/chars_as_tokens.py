"""WRONG on purpose (counts characters as tokens): the first-tokens grader must fail it.
The reference's stream_and_time, with its token count and decode speed made from characters."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
import solution  # noqa: E402
from solution import chat_once, sample  # noqa: E402,F401


def stream_and_time(llm, prompt: str, max_tokens: int) -> dict:
    r = solution.stream_and_time(llm, prompt, max_tokens)
    # the reference's decode time: its speed counts the tokens after the first
    decode_s = (r["n_tokens"] - 1) / r["decode_tok_s"] if r["decode_tok_s"] > 0 else 0.0
    n_chars = len(r["text"])  # characters, not tokens
    decode_tok_s = (n_chars - 1) / decode_s if n_chars > 1 and decode_s > 0 else 0.0
    return {**r, "decode_tok_s": decode_tok_s, "n_tokens": n_chars}
