#!/usr/bin/env python3
"""Time to first token with and without prompt-prefix reuse, and decode with and without a schema.

    .venv/bin/python scripts/bench-prefix-cache.py [--model smollm2-135m] [--threads 2] [--rounds 5] [--json]

In one run, round by round: a ~400-token system prompt plus a short question, sent to a backend
that reuses prefixes after a different question with the same instructions (cached), and to one
that does not (cold). Prints the median TTFT of each, their ratio, the tokens reused, and whether
the replies were the same tokens. Then greedy decode tok/s of the same request with and without a
JSON schema (the fast path's grammar check, harness/backends/grammar_greedy.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.backends.registry import open_backend  # noqa: E402

RULES = [
    "Answer the question you are asked and nothing else: no greeting, no summary, no follow-up question.",
    "Use one short sentence. If a single word answers the question, a single word is enough.",
    "Name places by their usual English names, as an atlas printed in English would write them.",
    "When a country has more than one capital, name the seat of government and say it is one of several.",
    "Give numbers with their units, rounded to at most three significant figures, and say they are rounded.",
    "Do not guess. If you do not know the answer, say that you do not know it, in five words or fewer.",
    "Never invent sources, quotations, dates or statistics, and never claim to have looked anything up.",
    "If the question is ambiguous, answer the most common reading of it and do not ask which was meant.",
    "Keep a neutral tone. Do not praise the question, the student or yourself, and do not apologise.",
    "Write in plain text: no lists, no tables, no headings, no bold or italic text, no code blocks.",
    "If the question is not about geography, say that this quiz only covers geography, in one sentence.",
    "Spell every answer carefully: the quiz is marked by a program that compares your words with a list.",
    "Capital cities, rivers, mountains, seas, deserts and countries are all fair topics for this quiz.",
    "Distances are in kilometres, heights in metres, areas in square kilometres, populations in people.",
    "When two answers are equally right, give the one that more students would recognise.",
    "Remember that the students are between twelve and fifteen years old and are learning English.",
]
SYSTEM = "You are the assistant of a small geography quiz for students. Follow these rules.\n" + "\n".join(
    f"{i}. {r}" for i, r in enumerate(RULES, 1)
)
QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Japan?",
    "Which is the longest river?",
    "What is the capital of Peru?",
    "Which ocean is the largest?",
    "What is the capital of Kenya?",
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 300}}, "required": ["answer"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    kw = dict(device="cpu", threads=a.threads, n_ctx=2048)
    hot = open_backend("llama-cpp", a.model, **kw)
    cold = open_backend("llama-cpp", a.model, prefix_cache=False, **kw)
    msgs = lambda q: [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]  # noqa: E731
    ttft_hot, ttft_cold, reused, same = [], [], [], True
    try:
        hot.chat(msgs(QUESTIONS[-1]), max_tokens=8)  # the instructions, seen once with another question
        for r in range(a.rounds):
            q = QUESTIONS[r % (len(QUESTIONS) - 1)]
            h, c = hot.chat(msgs(q), max_tokens=8), cold.chat(msgs(q), max_tokens=8)
            ttft_hot.append(h.timings.ttft_s)
            ttft_cold.append(c.timings.ttft_s)
            reused.append(h.cached_tokens)
            same &= h.text == c.text
            prompt_tokens = h.prompt_tokens
        story = [{"role": "user", "content": "Write a long story about a dragon who learns to cook."}]
        plain = [cold.chat(story, max_tokens=96).timings.decode_tok_s for _ in range(a.rounds)]
        schema = [cold.chat(story, max_tokens=96, schema=SCHEMA).timings.decode_tok_s for _ in range(a.rounds)]
        cold.fast = False  # Llama.generate: the grammar over every candidate, before each pick
        schema_generate = [cold.chat(story, max_tokens=96, schema=SCHEMA).timings.decode_tok_s for _ in range(a.rounds)]
    finally:
        hot.close()
        cold.close()
    out = {
        "model": a.model,
        "threads": a.threads,
        "rounds": a.rounds,
        "prompt_tokens": prompt_tokens,
        "cached_tokens_median": statistics.median(reused),
        "ttft_cold_s": statistics.median(ttft_cold),
        "ttft_cached_s": statistics.median(ttft_hot),
        "same_replies": same,
        "decode_tok_s_plain": statistics.median(plain),
        "decode_tok_s_schema": statistics.median(schema),
        "decode_tok_s_schema_llama_generate": statistics.median(schema_generate),
    }
    out["cold_over_cached"] = out["ttft_cold_s"] / out["ttft_cached_s"]
    if a.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{a.model}, {a.threads} threads, median of {a.rounds} rounds, a {prompt_tokens}-token prompt:")
    print(f"  TTFT cold    {out['ttft_cold_s'] * 1000:8.1f} ms")
    print(
        f"  TTFT cached  {out['ttft_cached_s'] * 1000:8.1f} ms   ({out['cached_tokens_median']:.0f} tokens from the cache)"
    )
    print(f"  cold / cached {out['cold_over_cached']:.1f}x; replies the same tokens: {same}")
    print(
        f"  greedy decode, no schema {out['decode_tok_s_plain']:.1f} tok/s, with a schema {out['decode_tok_s_schema']:.1f} tok/s"
        f" (Llama.generate with the schema: {out['decode_tok_s_schema_llama_generate']:.1f} tok/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
