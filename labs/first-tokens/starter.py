"""first-tokens: talk to a quantized model, control its sampling, and time it yourself.

`llm` is the harness's Backend (harness/backends/base.py):
    llm.chat(messages, max_tokens=, temperature=, seed=, stop=) -> Completion (.text, .completion_tokens, .timings)
    llm.stream(messages, max_tokens=, temperature=, seed=, stop=) -> iterator of Chunk (.text, .done, .completion)
    llm.complete(prompt, ...) -> Completion   (raw text, no chat template)
    llm.count_tokens(text) -> int
messages is a list like [{"role": "user", "content": "..."}].
Run `harness check first-tokens` after each function you fill in.
"""

from __future__ import annotations


def chat_once(llm, question: str, max_tokens: int = 32) -> str:
    """Ask one question through the model's chat template, greedily (same answer every time).
    Return the answer text."""
    # TODO: build the messages and call llm.chat with temperature 0
    raise NotImplementedError("chat_once")


def sample(llm, prompt: str, temperature: float, seed: int, stop: list[str] | None = None, max_tokens: int = 24) -> str:
    """Generate a reply to `prompt` with this temperature and seed; stop before any string in `stop`.
    Same seed -> same text; different seeds -> (usually) different texts when temperature > 0."""
    # TODO: pass temperature, seed and stop through to the model
    raise NotImplementedError("sample")


def stream_and_time(llm, prompt: str, max_tokens: int) -> dict:
    """Stream a reply at temperature 0 and time it yourself with time.perf_counter().
    Return {"text": full text, "ttft_s": seconds from the request to the first token,
            "decode_tok_s": tokens per second after the first token, "n_tokens": tokens generated}."""
    # TODO: iterate over llm.stream(...), note when the first and the last pieces arrive,
    #       and count tokens (not characters: the last chunk carries the Completion)
    raise NotImplementedError("stream_and_time")
