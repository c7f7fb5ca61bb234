"""Wrong solution of rag: the chunks are embedded with MiniLM, but the question with another
embedder (a cheap hashed bag of words of the same size, 384). The vectors have the same shape,
so FAISS searches without complaint, but they live in different spaces: the nearest chunks are
unrelated: retrieval_recall@2 must fail (and, measured, the gain over closed-book with it)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import answer, build_index, chunk  # noqa: E402,F401


def _hashed_words(text: str, dim: int = 384) -> np.ndarray:
    v = np.zeros((1, dim), dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        v[0, int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return v / max(float(np.linalg.norm(v)), 1e-9)


def retrieve(embedder, index, question, k):
    _, ids = index.faiss.search(_hashed_words(question), k)
    return [int(i) for i in ids[0] if i >= 0]
