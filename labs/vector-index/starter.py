"""Vector-index lab: FAISS flat, IVF and HNSW indexes, tuned for recall and speed.

Fill in the three functions. Each gets the base vectors `xb` (float32, shape (n, dim),
unit length, so inner product = cosine) and returns a FAISS index that holds all of them
and is READY TO SEARCH: set the search-time parameters (nprobe, efSearch) before returning.
The grader then asks 200 queries one at a time with `index.search(q, 10)` and compares
the answers with exact search, and the time with exact (flat) search.

Run `harness check vector-index` to grade this file; the report prints a table of recall
and speed-up for other nprobe / efSearch values on your own index, to help you tune.
"""

from __future__ import annotations

import faiss
import numpy as np


def build_flat(xb: np.ndarray) -> faiss.Index:
    """Exact search: every query is compared with every vector (the baseline)."""
    # TODO: faiss.IndexFlatIP(dim), then add the vectors.
    raise NotImplementedError("build_flat")


def build_ivf(xb: np.ndarray) -> faiss.Index:
    """Inverted file index: k-means splits the vectors into nlist cells; a query only scans
    the nprobe cells whose centroids are nearest to it."""
    # TODO: a quantizer (faiss.IndexFlatIP), faiss.IndexIVFFlat(quantizer, dim, nlist,
    #       faiss.METRIC_INNER_PRODUCT), train it (a random sample of ~50 x nlist vectors
    #       is enough), add all vectors, set index.nprobe.
    raise NotImplementedError("build_ivf")


def build_hnsw(xb: np.ndarray) -> faiss.Index:
    """HNSW graph index: M = links per node, efConstruction = beam width while building,
    efSearch = beam width while searching (higher: better recall, slower)."""
    # TODO: faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT); set
    #       index.hnsw.efConstruction BEFORE add(); set index.hnsw.efSearch after.
    raise NotImplementedError("build_hnsw")
