"""Reference solution of the embeddings lab: dense retrieval with numpy, and a TF-IDF baseline."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

# A few very common English words: they match everywhere and say nothing about the topic.
STOP_WORDS = frozenset(
    "a an and are as at be been by can could did do does for from had has have in is it its may "
    "might not no of on or than that the their these this those to was were what when which who "
    "whether will with would".split()
)
TOKEN = re.compile(r"[a-z0-9]+")


def embed(embedder, texts: list[str]) -> np.ndarray:
    """One unit-length float32 vector per text, shape (len(texts), dim)."""
    return np.asarray(embedder.embed(list(texts), normalize=True), dtype=np.float32)


def cosine_top_k(query_vecs: np.ndarray, doc_vecs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k documents most cosine-similar to each query, best first: shape (n_queries, k)."""
    q = query_vecs / np.maximum(np.linalg.norm(query_vecs, axis=1, keepdims=True), 1e-12)
    d = doc_vecs / np.maximum(np.linalg.norm(doc_vecs, axis=1, keepdims=True), 1e-12)
    scores = q @ d.T  # cosine = dot product of unit vectors
    k = min(k, scores.shape[1])
    # argpartition finds the k best in O(n); only those k are then sorted.
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def tokenize(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOP_WORDS]


class TfIdf:
    """Sublinear term frequency (1 + log tf) x smoothed idf, rows L2-normalised, so the
    score of a query against a document is the cosine of their TF-IDF vectors."""

    def __init__(self, docs: list[str]):
        counts = [Counter(tokenize(d)) for d in docs]
        df = Counter(term for c in counts for term in c)
        self.vocab = {term: i for i, term in enumerate(sorted(df))}
        n = len(docs)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in sorted(df)], dtype=np.float32)
        self.matrix = self._vectors(counts)

    def _vectors(self, counts: list[Counter]) -> np.ndarray:
        m = np.zeros((len(counts), len(self.vocab)), dtype=np.float32)
        for row, c in enumerate(counts):
            for term, tf in c.items():
                col = self.vocab.get(term)
                if col is not None:
                    m[row, col] = (1 + math.log(tf)) * self.idf[col]
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)

    def scores(self, queries: list[str]) -> np.ndarray:
        return self._vectors([Counter(tokenize(q)) for q in queries]) @ self.matrix.T


def build_tfidf(docs: list[str]) -> TfIdf:
    return TfIdf(docs)


def tfidf_top_k(model: TfIdf, queries: list[str], k: int) -> np.ndarray:
    scores = model.scores(queries)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]
