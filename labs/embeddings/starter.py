"""Embeddings lab: dense retrieval with numpy, against a keyword (TF-IDF or BM25) baseline.

Fill in the four functions. The grader calls them on PubMedQA questions and paragraphs:
    embed(embedder, texts)                 -> (n, dim) float32 array, one unit-length row per text
    cosine_top_k(query_vecs, doc_vecs, k)  -> (n_queries, k) int array of document indices, best first
    build_tfidf(docs)                      -> any object your tfidf_top_k understands
    tfidf_top_k(model, queries, k)         -> (n_queries, k) int array of document indices, best first

Run `harness check embeddings` to grade this file, `harness hint embeddings` when stuck.
"""

from __future__ import annotations

import numpy as np


def embed(embedder, texts: list[str]) -> np.ndarray:
    """One vector per text. `embedder.embed(texts, normalize=True)` returns a float32 array
    of shape (len(texts), dim); normalize=True makes each row unit length."""
    # TODO: call the embedder and return a float32 numpy array.
    raise NotImplementedError("embed")


def cosine_top_k(query_vecs: np.ndarray, doc_vecs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k documents most similar to each query by cosine similarity, best first.

    Must be correct for vectors of any length (the grader also passes vectors that are not
    unit length): cosine(a, b) = a.b / (|a| |b|)."""
    # TODO: normalise both sides, one matrix product for all scores, then the k best per row
    #       (np.argsort, or np.argpartition + a sort of the k kept).
    raise NotImplementedError("cosine_top_k")


def build_tfidf(docs: list[str]):
    """The keyword baseline: index the documents for tfidf_top_k.

    Tokenise (lowercase words), count terms per document, weight each term by its inverse
    document frequency (rare terms matter more), e.g. weight = (1 + log tf) * (log((1+N)/(1+df)) + 1),
    and L2-normalise each document's vector. BM25 is a fine alternative."""
    # TODO: return whatever your tfidf_top_k needs (a vocabulary, idf weights, a matrix ...).
    raise NotImplementedError("build_tfidf")


def tfidf_top_k(model, queries: list[str], k: int) -> np.ndarray:
    """Score every document against each query with the model from build_tfidf; the k best, best first."""
    # TODO: vectorise the queries with the same vocabulary and idf, score, take the top k.
    raise NotImplementedError("tfidf_top_k")
