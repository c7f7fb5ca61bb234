"""Wrong solution of rag: "retrieval" that returns the first k chunks whatever the question.
The answers are then made from unrelated passages: retrieval_recall@2 must fail, and so must
RAG beating closed-book."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "rag"))
sys.modules.pop("solution", None)  # a test may have imported another lab's solution.py under that name
from solution import answer, build_index, chunk  # noqa: E402,F401


def retrieve(embedder, index, question, k):
    return list(range(k))
