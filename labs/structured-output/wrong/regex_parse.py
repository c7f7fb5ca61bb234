"""WRONG on purpose: no constraint - the reply is parsed with regular expressions.

structured-output, reference solution modified."""

from __future__ import annotations

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
            "question": {"type": "string", "maxLength": 200},
        },
        "required": ["first_number", "question"],
        "additionalProperties": False,
    }


def build_messages(problem: str) -> list[dict]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": problem},
    ]


def extract(llm, problem: str) -> dict:
    # Looks robust: whatever the model writes, pull the fields out with regexes (no schema sent).
    import re

    text = llm.chat(build_messages(problem), max_tokens=96, temperature=0.0).text
    first = re.search(r"-?\d+(?:\.\d+)?", text)
    m = re.search(r'"question"\s*:\s*"([^"]*)', text)
    return {"first_number": float(first.group()) if first else 0.0, "question": m.group(1) if m else text}


def extract_unconstrained(llm, problem: str) -> str:
    """The same prompt without the schema: return the raw text, the grader tries to parse it."""
    reply = llm.chat(build_messages(problem), max_tokens=96, temperature=0.0)
    return reply.text
