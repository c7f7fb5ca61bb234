"""Wrong solution of rag: the answer is asked for in words and read from free text, with no
schema constraint. A 135M model then often writes a sentence instead of a label:
valid_answer_rate must fail."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "rag"))
from solution import build_index, chunk, retrieve  # noqa: E402,F401


def answer(llm, question, passages):
    context = "\n\n".join(passages)
    messages = [
        {"role": "system", "content": "Answer the question with one word: yes, no or maybe."},
        {"role": "user", "content": f"{context}\n\nQuestion: {question}"},
    ]
    return llm.chat(messages, max_tokens=16, temperature=0.0, seed=0).text
