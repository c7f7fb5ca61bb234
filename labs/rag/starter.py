"""RAG lab: answer SQuAD questions about Wikipedia articles from retrieved paragraphs.

Fill in the four functions. The grader calls them like this:

    chunks = [c for doc in documents for c in chunk(doc)]      # doc: {"id", "title", "text"}, one paragraph
    index = build_index(embedder, chunks)
    for each question:
        ids = retrieve(embedder, index, question, k)            # indices into chunks, best first
        reply = answer(llm, question, [chunks[i] for i in ids]) # the model's reply, a short text

The reply is scored against the gold answers (short spans of the paragraph): is a gold answer
contained in it, token F1, exact match; and against the same model answering closed-book.

`embedder.embed(texts, normalize=True)` -> float32 array (len(texts), 384), unit rows.
`llm.chat(messages, max_tokens=..., temperature=0.0, seed=0)` -> Completion;
`completion.text` is the model's output.

Run `harness check rag` to grade this file, `harness hint rag` when stuck.
"""

from __future__ import annotations


def chunk(doc: dict) -> list[str]:
    """Split one paragraph into passages. doc = {"id": "a3-p12", "title": "Nikola Tesla",
    "text": "Tesla was born on ..."}. Every chunk must fit the embedding model (512 tokens;
    ~150 words is a safe size)."""
    # TODO: e.g. the whole paragraph as one chunk, with its article's title in front.
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
    """The model's answer to the question, from the passages: a short phrase."""
    # TODO: build messages (a system line saying what to do, then the passages and the
    #       question), call llm.chat(..., max_tokens=..., temperature=0.0), return completion.text.
    raise NotImplementedError("answer")
