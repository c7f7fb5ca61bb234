"""Reference solution of the rag lab: paragraph chunks titled with their article, MiniLM vectors
in a FAISS HNSW index, top-k retrieval, and a short answer copied from the passages."""

from __future__ import annotations

import re

import faiss
import numpy as np

MAX_WORDS = 150  # keeps every chunk well inside MiniLM's 512 tokens and the prompt short
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"])")


def chunk(doc: dict) -> list[str]:
    """The paragraph as one chunk, prefixed with its article's title so that a question about
    "the Normans" finds the Normans' paragraphs; a long paragraph is split between sentences
    into pieces of at most MAX_WORDS words, each with the title."""
    label = f"{doc['title']}: " if doc.get("title") else ""
    out, piece = [], []
    for sentence in SENTENCE_END.split(doc["text"].strip()):
        if piece and len(" ".join(piece + [sentence]).split()) > MAX_WORDS:
            out.append(label + " ".join(piece))
            piece = []
        piece.append(sentence)
    if piece:
        out.append(label + " ".join(piece))
    return out


class Index:
    """A FAISS HNSW index over unit vectors (inner product = cosine)."""

    def __init__(self, vectors: np.ndarray):
        self.faiss = faiss.IndexHNSWFlat(vectors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        self.faiss.hnsw.efConstruction = 40
        self.faiss.add(vectors)
        self.faiss.hnsw.efSearch = 64


def build_index(embedder, chunks: list[str]) -> Index:
    vectors = np.asarray(embedder.embed(chunks, normalize=True), dtype=np.float32)
    return Index(vectors)


def retrieve(embedder, index: Index, question: str, k: int) -> list[int]:
    """Indices of the k chunks nearest to the question, best first."""
    q = np.asarray(embedder.embed([question], normalize=True), dtype=np.float32)
    _, ids = index.faiss.search(q, k)
    return [int(i) for i in ids[0] if i >= 0]


def answer(llm, question: str, passages: list[str]) -> str:
    """The question, the passages, the question again, and an instruction a 135M model can
    follow: copy a short phrase. Asked before the passages, the question tells the model what to
    look for; asked again after them, it is what the model answers. Few tokens: the gold answer
    is a span of a few words, and each token costs time."""
    context = "\n\n".join(passages)
    messages = [
        {"role": "system", "content": "Answer the question with a short phrase copied from the passages."},
        {"role": "user", "content": f"Question: {question}\n\nPassages:\n{context}\n\nQuestion: {question}"},
    ]
    return llm.chat(messages, max_tokens=24, temperature=0.0, seed=0).text
