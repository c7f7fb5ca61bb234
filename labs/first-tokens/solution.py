"""Reference solution of the first-tokens lab."""

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
    pieces: list[str] = []
    n_tokens = 0
    t_first = t_last = None
    t0 = time.perf_counter()  # the request starts here: templating and prefill count towards TTFT
    for chunk in llm.stream(messages, max_tokens=max_tokens, temperature=0.0):
        if chunk.done:
            n_tokens = chunk.completion.completion_tokens  # tokens, as the model counts them
            break
        if chunk.text:
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            t_last = now
            pieces.append(chunk.text)
    if t_first is None:  # nothing was generated
        return {"text": "", "ttft_s": time.perf_counter() - t0, "decode_tok_s": 0.0, "n_tokens": 0}
    decode_s = t_last - t_first
    # The first token arrives at TTFT; decode speed counts the tokens after it.
    decode_tok_s = (n_tokens - 1) / decode_s if n_tokens > 1 and decode_s > 0 else 0.0
    return {"text": "".join(pieces), "ttft_s": t_first - t0, "decode_tok_s": decode_tok_s, "n_tokens": n_tokens}
