"""WRONG on purpose (times a non-streamed call, so its TTFT is the whole call): the grader must fail it."""

from __future__ import annotations

import time


def chat_once(llm, question: str, max_tokens: int = 32) -> str:
    # The backend applies the model's chat template to a list of messages; temperature 0 is greedy.
    messages = [{"role": "user", "content": question}]
    return llm.chat(messages, max_tokens=max_tokens, temperature=0.0).text


def sample(llm, prompt: str, temperature: float, seed: int, stop: list[str] | None = None, max_tokens: int = 24) -> str:
    messages = [{"role": "user", "content": prompt}]
    return llm.chat(messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop).text


def stream_and_time(llm, prompt: str, max_tokens: int) -> dict:
    messages = [{"role": "user", "content": prompt}]
    t0 = time.perf_counter()
    c = llm.chat(messages, max_tokens=max_tokens, temperature=0.0)
    elapsed = time.perf_counter() - t0  # "time to first token": but nothing was streamed
    n = c.completion_tokens
    return {"text": c.text, "ttft_s": elapsed, "decode_tok_s": n / elapsed, "n_tokens": n}
