"""Wrong solution of rag: answer() returns the retrieved passages themselves. Every gold answer is
a span of its paragraph, so this "contains" the answer whenever retrieval found it, without the
model answering anything: model_reply_rate must fail (such answers score 0)."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_index, chunk, retrieve  # noqa: E402,F401


def answer(llm, question, passages):
    return " ".join(passages)
