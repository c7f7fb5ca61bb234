"""Wrong solution of embeddings: "retrieval" that ranks documents by how typical they are
(similarity to the corpus centroid), the same list for every query. cosine_check,
dense_recall@5 and dense_gain@1_ci_low must fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_tfidf, embed, tfidf_top_k  # noqa: E402,F401


def cosine_top_k(query_vecs, doc_vecs, k):
    d = doc_vecs / np.linalg.norm(doc_vecs, axis=1, keepdims=True)
    centre = d.mean(axis=0)
    best = np.argsort(-(d @ centre))[:k]
    return np.tile(best, (len(query_vecs), 1))
