"""Wrong solution of rag: "retrieval" that returns the first k chunks whatever the question.
The answers are then made from unrelated passages: retrieval_recall@3 must fail."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "rag"))
from solution import answer, build_index, chunk  # noqa: E402,F401


def retrieve(embedder, index, question, k):
    return list(range(k))
