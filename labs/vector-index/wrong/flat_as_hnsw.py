"""Wrong solution of vector-index: exact search returned where an approximate index belongs
(a flat index called HNSW, and IVF probing every cell). Perfect recall, no speed-up:
hnsw_speedup and ivf_speedup must fail. The reference with build_ivf and build_hnsw replaced."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_flat  # noqa: E402


def build_ivf(xb: np.ndarray) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(xb.shape[1])
    index = faiss.IndexIVFFlat(quantizer, xb.shape[1], 64, faiss.METRIC_INNER_PRODUCT)
    index.train(xb[:8192])
    index.add(xb)
    index.nprobe = 64  # every cell: exact, and slower than flat
    return index


def build_hnsw(xb: np.ndarray) -> faiss.Index:
    return build_flat(xb)
