"""Wrong solution of rag: "retrieval" that returns the first k chunks whatever the question.
The answers are then made from unrelated passages: retrieval_recall@2 must fail, and so must
RAG beating closed-book."""

from __future__ import annotations

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import answer, build_index, chunk  # noqa: E402,F401


def retrieve(embedder, index, question, k):
    return list(range(k))
