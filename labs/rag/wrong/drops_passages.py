"""Wrong solution of rag: retrieval is right, but the passages never reach the prompt (the
question alone is sent). Recall passes; RAG is then closed-book under another name, so the
criteria that need RAG to beat closed-book must fail."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_index, chunk, retrieve  # noqa: E402,F401


def answer(llm, question, passages):
    messages = [
        {"role": "system", "content": "Answer the question with a short phrase."},
        {"role": "user", "content": f"Question: {question}"},
    ]
    return llm.chat(messages, max_tokens=24, temperature=0.0, seed=0).text
