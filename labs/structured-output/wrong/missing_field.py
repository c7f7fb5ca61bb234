"""WRONG on purpose: the schema leaves out the required field `question`.

structured-output, reference solution modified: the grammar then never lets the model write
`question`, so every constrained reply misses it."""

from __future__ import annotations

import json

# One worked example helps a 135M model more than a longer description does.
INSTRUCTIONS = (
    "You extract facts from a math word problem. Reply with JSON only, like this example.\n"
    "Problem: Tom has 3 apples and buys 5 more. How many apples does he have now?\n"
    'JSON: {"first_number": 3, "question": "How many apples does he have now?"}\n'
    "first_number = the first number written with digits in the problem; "
    "question = the last sentence of the problem, the one that ends with a question mark, copied exactly."
)


def build_schema() -> dict:
    """The JSON schema the reply must match: both fields required, nothing else allowed.

    `question` is bounded (maxLength) so that the grammar cannot let the model ramble past
    max_tokens: a reply cut off half-way is not JSON, constrained or not."""
    return {
        "type": "object",
        "properties": {
            "first_number": {"type": "number"},
        },
        "required": ["first_number"],
        "additionalProperties": False,
    }


def build_messages(problem: str) -> list[dict]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": problem},
    ]


def extract(llm, problem: str) -> dict:
    """Constrained: the schema goes to the backend, so the text is JSON of that shape."""
    reply = llm.chat(build_messages(problem), max_tokens=96, temperature=0.0, schema=build_schema())
    return json.loads(reply.text)


def extract_unconstrained(llm, problem: str) -> str:
    """The same prompt without the schema: return the raw text, the grader tries to parse it."""
    reply = llm.chat(build_messages(problem), max_tokens=96, temperature=0.0)
    return reply.text
