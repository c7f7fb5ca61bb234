"""The greedy-output fingerprint: will this model, build and setting give the same answers as another?

A short hash of the replies a chat model gives at temperature 0 to a fixed set of prompts. Two
result files with the same fingerprint produced the same tokens there, so their accuracy figures
should agree; different fingerprints for the same model file mean the numerics differ (flash
attention on vs off, its thread split past 512 KV cells, other SIMD kernels, a GPU), and then
accuracy differences between the files are expected, not alarming (harness/bench/compare.py says
which cause fits). MLPerf Client checks greedy outputs against expected tokens the same way.

The replies' text is hashed, not token ids: HTTP backends return text only, and the same tokens
always decode to the same text. One prompt is long on purpose (more than 512 tokens in the KV
cache while decoding), because that is where llama.cpp's CPU flash attention splits its work by
thread count.
"""

from __future__ import annotations

import hashlib
from typing import Any

METHOD = (
    "greedy-v1: 4 chat prompts (one past 512 KV cells), 48 tokens each, temperature 0, seed 0; sha256 of the replies"
)
MAX_TOKENS = 48

_COLOURS = ("red", "blue", "green", "yellow", "black", "white", "orange", "purple")
_THINGS = ("apples", "pears", "stones", "books", "coins", "shells", "keys", "cups")


def _inventory() -> str:
    """A long, varied, fixed text (~900 tokens): 64 boxes, each with a colour, a count and a thing."""
    lines = []
    for i in range(64):
        colour, thing = _COLOURS[i % 8], _THINGS[(i * 3 + i // 8) % 8]
        lines.append(f"Box {i + 1} is {colour} and holds {(i * 37) % 90 + 3} {thing}.")
    return " ".join(lines)


PROMPTS: tuple[tuple[dict[str, str], ...], ...] = (
    ({"role": "user", "content": "Name three colours."},),
    (
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "A farmer has 12 cows and buys 7 more. How many cows does he have?"},
    ),
    ({"role": "user", "content": "Write one sentence about the sea."},),
    ({"role": "user", "content": f"{_inventory()}\n\nWhich boxes hold coins? Answer with a list."},),
)


def greedy_fingerprint(backend: Any) -> dict[str, Any]:
    """{"method", "sha256" (16 hex digits), "prompts", "tokens"} of an open chat backend."""
    digest = hashlib.sha256()
    tokens = 0
    for messages in PROMPTS:
        reply = backend.chat(list(messages), max_tokens=MAX_TOKENS, temperature=0.0, seed=0)
        digest.update(reply.text.encode("utf-8") + b"\0")
        tokens += reply.completion_tokens
    return {"method": METHOD, "sha256": digest.hexdigest()[:16], "prompts": len(PROMPTS), "tokens": tokens}
