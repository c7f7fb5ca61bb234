"""structured-output, reference solution.

Extract two facts from a GSM8K word problem as JSON: every number written with digits (in
order) and the sentence that asks the question. With a JSON schema the backend constrains
decoding (llama.cpp turns the schema into a grammar), so even a 135M model returns JSON that
parses and has every required field; without it, count how often it does not.
"""

from __future__ import annotations

import json

INSTRUCTIONS = (
    "You extract facts from a math word problem. Reply with JSON only: "
    '{"numbers": [every number written with digits in the problem, in order], '
    '"question": "the sentence that asks the question, copied exactly"}'
)


def build_schema() -> dict:
    """The JSON schema the reply must match: both fields required, nothing else allowed.

    Bounded (maxItems, maxLength) so that the grammar cannot let the model ramble past
    max_tokens: a reply cut off half-way is not JSON, constrained or not."""
    return {
        "type": "object",
        "properties": {
            "numbers": {"type": "array", "items": {"type": "number"}, "maxItems": 12},
            "question": {"type": "string", "maxLength": 200},
        },
        "required": ["numbers", "question"],
        "additionalProperties": False,
    }


def build_messages(problem: str) -> list[dict]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": problem},
    ]


def extract(llm, problem: str) -> dict:
    """Constrained: the schema goes to the backend, so the text is JSON of that shape."""
    reply = llm.chat(build_messages(problem), max_tokens=256, temperature=0.0, schema=build_schema())
    return json.loads(reply.text)


def extract_unconstrained(llm, problem: str) -> str:
    """The same prompt without the schema: return the raw text, the grader tries to parse it."""
    reply = llm.chat(build_messages(problem), max_tokens=256, temperature=0.0)
    return reply.text
