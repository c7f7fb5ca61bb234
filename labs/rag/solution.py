"""Reference solution of the rag lab: paragraph chunks, MiniLM vectors in a FAISS HNSW index,
top-k retrieval, and a yes/no/maybe answer under a JSON-schema constraint."""

from __future__ import annotations

import json
import re

import faiss
import numpy as np

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no", "maybe"]}},
    "required": ["answer"],
}
MAX_WORDS = 120  # keeps every chunk well inside MiniLM's 512 tokens and the prompt short
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def chunk(doc: dict) -> list[str]:
    """One chunk per paragraph, prefixed with its section name (RESULTS, METHODS ...); a long
    paragraph is split between sentences into pieces of at most MAX_WORDS words."""
    out = []
    sections = doc.get("sections") or []
    for i, paragraph in enumerate(doc["paragraphs"]):
        label = f"{sections[i].title()}: " if i < len(sections) and sections[i] else ""
        piece: list[str] = []
        for sentence in SENTENCE_END.split(paragraph.strip()):
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
    """yes / no / maybe, decided from the passages; the schema makes any other output impossible."""
    context = "\n\n".join(passages)
    messages = [
        {"role": "system", "content": "You answer biomedical research questions with yes, no or maybe, "
                                      "using the excerpts of the study given with the question."},
        {"role": "user", "content": f"Excerpts:\n{context}\n\nQuestion: {question}\n"
                                    "Based on the excerpts, answer yes, no or maybe."},
    ]
    completion = llm.chat(messages, max_tokens=16, temperature=0.0, seed=0, schema=ANSWER_SCHEMA)
    return json.loads(completion.text)["answer"]
