"""Wrong solution of vector-index: HNSW left at FAISS's default search beam (efSearch = 16).
Fast, but it misses too many true neighbours: hnsw_recall@10 must fail."""

from __future__ import annotations

import faiss
import numpy as np


def build_flat(xb: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(xb.shape[1])
    index.add(xb)
    return index


def build_ivf(xb: np.ndarray) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(xb.shape[1])
    index = faiss.IndexIVFFlat(quantizer, xb.shape[1], 256, faiss.METRIC_INNER_PRODUCT)
    index.train(xb[:16384])
    index.add(xb)
    index.nprobe = 32
    return index


def build_hnsw(xb: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(xb.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(xb)
    return index  # efSearch stays at its default of 16
