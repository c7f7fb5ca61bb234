"""Wrong solution of quantize: raw vectors (normalize=False) everywhere. The inner product of raw
MiniLM vectors is not a cosine (they are ~2.5 long), so the "mean cosine to F16" comes out near
6, and the search ranks long vectors first. cosine_max_error must fail."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "labs" / "quantize"))
sys.modules.pop("solution", None)  # a test may have imported another lab's solution.py under that name
from solution import choose, quantize  # noqa: E402,F401  (quantising and choosing are right)


def measure(open_embedder, path, passages, questions, gold, baseline=None):
    with open_embedder(path) as embedder:
        t0 = time.perf_counter()
        p = np.asarray(embedder.embed(passages, normalize=False), dtype=np.float32)
        passages_per_s = len(passages) / (time.perf_counter() - t0)
        q = np.asarray(embedder.embed(questions, normalize=False), dtype=np.float32)
    index = faiss.IndexFlatIP(p.shape[1])
    index.add(p)
    _, ids = index.search(q, 5)
    gold = np.asarray(gold)
    hits = {k: (ids[:, :k] == gold[:, None]).any(axis=1) for k in (1, 5)}
    base = p if baseline is None else np.asarray(baseline["vectors"], dtype=np.float32)
    return {
        "size_bytes": Path(path).stat().st_size,
        "passages_per_s": passages_per_s,
        "recall@1": float(hits[1].mean()),
        "recall@5": float(hits[5].mean()),
        "hits@1": [bool(h) for h in hits[1]],
        "cosine_to_f16": float(np.mean(np.sum(p * base, axis=1))),  # a dot product, not a cosine
        "vectors": p,
    }
