"""Wrong solution of embeddings: raw vectors and a plain dot product, which is not cosine:
long vectors win whatever their direction. cosine_check must fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_tfidf, tfidf_top_k  # noqa: E402,F401  (the keyword half is right)


def embed(embedder, texts):
    return np.asarray(embedder.embed(list(texts), normalize=False), dtype=np.float32)


def cosine_top_k(query_vecs, doc_vecs, k):
    scores = query_vecs @ doc_vecs.T  # forgot to divide by the norms
    return np.argsort(-scores, axis=1)[:, :k]
