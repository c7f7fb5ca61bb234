"""Wrong solution of vector-index: exact search returned where an approximate index belongs
(a flat index called HNSW, and IVF probing every cell). Perfect recall, no speed-up:
hnsw_speedup and ivf_speedup must fail."""

from __future__ import annotations

import faiss
import numpy as np


def build_flat(xb: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(xb.shape[1])
    index.add(xb)
    return index


def build_ivf(xb: np.ndarray) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(xb.shape[1])
    index = faiss.IndexIVFFlat(quantizer, xb.shape[1], 64, faiss.METRIC_INNER_PRODUCT)
    index.train(xb[:8192])
    index.add(xb)
    index.nprobe = 64  # every cell: exact, and slower than flat
    return index


def build_hnsw(xb: np.ndarray) -> faiss.Index:
    return build_flat(xb)
