"""WRONG on purpose (times a non-streamed call, so its TTFT is the whole call): the grader must fail it.
The reference with stream_and_time replaced."""

from __future__ import annotations

import time
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import chat_once, sample  # noqa: E402,F401


def stream_and_time(llm, prompt: str, max_tokens: int) -> dict:
    messages = [{"role": "user", "content": prompt}]
    t0 = time.perf_counter()
    c = llm.chat(messages, max_tokens=max_tokens, temperature=0.0)
    elapsed = time.perf_counter() - t0  # "time to first token": but nothing was streamed
    n = c.completion_tokens
    return {"text": c.text, "ttft_s": elapsed, "decode_tok_s": n / elapsed, "n_tokens": n}
