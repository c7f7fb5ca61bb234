"""Wrong solution of vector-index: HNSW left at FAISS's default search beam (efSearch = 16).
Fast, but it misses too many true neighbours: hnsw_recall@10 must fail. The reference with
build_hnsw replaced."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import build_flat, build_ivf  # noqa: E402,F401


def build_hnsw(xb: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(xb.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(xb)
    return index  # efSearch stays at its default of 16
