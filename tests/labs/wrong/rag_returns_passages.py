"""Wrong solution of rag: answer() returns the retrieved passages themselves. Every gold answer is
a span of its paragraph, so this "contains" the answer whenever retrieval found it, without the
model answering anything: model_reply_rate must fail (such answers score 0)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "rag"))
sys.modules.pop("solution", None)  # a test may have imported another lab's solution.py under that name
from solution import build_index, chunk, retrieve  # noqa: E402,F401


def answer(llm, question, passages):
    return " ".join(passages)
