"""structured-output: make a small model return JSON that matches a schema, every time.

Extract two facts from a GSM8K word problem:
    {"first_number": the first number written with digits in the problem,
     "question": "the sentence that asks the question, copied exactly"}

`llm` is the harness model: llm.chat(messages, max_tokens=..., temperature=..., schema=...)
returns a Completion whose .text is the reply. `schema=` is a JSON schema; the backend then
constrains decoding so the reply matches it. Run `harness check structured-output`.
"""

from __future__ import annotations

import json  # noqa: F401  (you will need it)


def build_schema() -> dict:
    """The JSON schema of the reply: an object with `first_number` (a number) and
    `question` (a string), both required. Bound the string (maxLength): a grammar only
    guarantees valid JSON if the reply can end within max_tokens."""
    # TODO: return the JSON schema
    raise NotImplementedError


def build_messages(problem: str) -> list[dict]:
    """Chat messages asking the model for the JSON above (say what each field holds;
    a short worked example helps a small model)."""
    # TODO: a system message with the instructions, a user message with the problem
    raise NotImplementedError


def extract(llm, problem: str) -> dict:
    """Constrained extraction: ask with the schema and return the parsed JSON object."""
    # TODO: llm.chat(build_messages(problem), max_tokens=96, temperature=0.0, schema=...)
    raise NotImplementedError


def extract_unconstrained(llm, problem: str) -> str:
    """The same request WITHOUT the schema. Return the raw reply text: the grader tries to
    parse it, to show how often the model fails without the constraint."""
    # TODO: the same call without schema=, return reply.text
    raise NotImplementedError
