"""RAG lab: answer PubMedQA questions (yes / no / maybe) from retrieved abstract passages.

Fill in the four functions. The grader calls them like this:

    chunks = [c for doc in documents for c in chunk(doc)]      # doc: {"pmid", "paragraphs", "sections"}
    index = build_index(embedder, chunks)
    for each question:
        ids = retrieve(embedder, index, question, k)            # indices into chunks, best first
        label = answer(llm, question, [chunks[i] for i in ids]) # "yes" | "no" | "maybe"

`embedder.embed(texts, normalize=True)` -> float32 array (len(texts), 384), unit rows.
`llm.chat(messages, max_tokens=..., temperature=0.0, seed=0, schema=...)` -> Completion;
`completion.text` is the model's output. With `schema` (a JSON schema) the output is
constrained to match it (grammar-constrained decoding).

Run `harness check rag` to grade this file, `harness hint rag` when stuck.
"""

from __future__ import annotations

import json

import faiss
import numpy as np

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no", "maybe"]}},
    "required": ["answer"],
}


def chunk(doc: dict) -> list[str]:
    """Split one abstract into passages. doc = {"pmid": str, "paragraphs": [str, ...],
    "sections": ["BACKGROUND", "METHODS", ...]} (sections may be empty).
    Every chunk must fit the embedding model (512 tokens; ~120 words is a safe size)."""
    # TODO: e.g. one chunk per paragraph, long paragraphs split between sentences.
    raise NotImplementedError("chunk")


def build_index(embedder, chunks: list[str]):
    """Embed every chunk and put the vectors in a FAISS HNSW index; return whatever
    retrieve() needs."""
    # TODO: vectors = embedder.embed(chunks, normalize=True)
    #       index = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT); set efConstruction,
    #       add the vectors, set efSearch.
    raise NotImplementedError("build_index")


def retrieve(embedder, index, question: str, k: int) -> list[int]:
    """Indices of the k chunks most similar to the question, best first."""
    # TODO: embed the question the same way, index.search(q, k), drop -1 ids.
    raise NotImplementedError("retrieve")


def answer(llm, question: str, passages: list[str]) -> str:
    """"yes", "no" or "maybe", decided from the passages."""
    # TODO: build messages (a system line saying what to do, then the passages and the
    #       question), call llm.chat(..., schema=ANSWER_SCHEMA, temperature=0.0), and return
    #       json.loads(completion.text)["answer"].
    raise NotImplementedError("answer")
