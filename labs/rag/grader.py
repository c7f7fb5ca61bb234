"""Grader of the rag lab: chunk, embed, index (FAISS HNSW), retrieve, answer SQuAD questions.

Measured in one run on the same questions: the learner's retrieval (recall@k of the question's
own paragraph among the paragraphs of several articles), the learner's answers (gold answer
contained in the reply, token F1, exact match, each with SQuAD's normalisation and the maximum
over the gold answers), the same chat model asked closed-book by the grader (the baseline), and
the latency of each question end to end.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.grading.metrics import contains_answer, exact_match, token_f1
from harness.grading.outcomes import PER_ITEM_KEY, per_item
from harness.grading.squad import paragraph_documents, pick_questions, read_squad
from harness.grading.stats import mcnemar_exact, p50, p95, paired_bootstrap
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement, timed
from harness.labs.recording import RecordingLLM


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_articles: int
    n_questions: int
    question_seed: int
    k: int


CLOSED_BOOK_SYSTEM = "Answer the question in a few words."
CLOSED_BOOK_MAX_TOKENS = 32
# An answer counts only when it is the model's (a reply, or a piece of one, of a chat call made in
# that answer() call) and short: every gold answer is a span of its paragraph, so returning the
# passages, or letting the model copy them back, would "contain" the answer without answering.
MAX_REPLY_WORDS = 32


def squad_path(ctx: LabContext) -> Path:
    return ctx.lab_dir.parent / "_data" / "squad" / "dev.json"


def load_articles(path: Path) -> list[dict]:
    return read_squad(path, LearnerError)


documents = paragraph_documents  # the grader's names, used by its tests


def closed_book(llm, question: str) -> str:
    """The baseline: the same chat model, asked the question alone."""
    c = llm.chat(
        [{"role": "system", "content": CLOSED_BOOK_SYSTEM}, {"role": "user", "content": question}],
        max_tokens=CLOSED_BOOK_MAX_TOKENS,
        temperature=0.0,
        seed=0,
    )
    return c.text


def scores(reply: str, golds: list[str]) -> dict:
    """SQuAD's metrics, each the maximum over the gold answers, plus "the gold answer is in the reply"."""
    return {
        "contained": contains_answer(reply, golds),
        "f1": max(token_f1(reply, g) for g in golds),
        "em": exact_match(reply, golds),
    }


def _chunks(solution, docs: list[dict]) -> tuple[list[str], list[str]]:
    chunks, owner = [], []
    for doc in docs:
        out = solution.chunk(dict(doc))
        if not isinstance(out, list) or not out or not all(isinstance(c, str) and c.strip() for c in out):
            raise LearnerError(
                f"chunk() must return a non-empty list of non-empty strings, got {type(out).__name__}"
                + (f" of length {len(out)}" if isinstance(out, list) else "")
            )
        chunks.extend(out)
        owner.extend([doc["id"]] * len(out))
    return chunks, owner


def _ids(raw, n_chunks: int, k: int) -> list[int]:
    try:
        ids = [int(i) for i in list(np.asarray(raw).reshape(-1))]
    except (TypeError, ValueError):
        raise LearnerError(f"retrieve() must return a list of chunk indices, got {type(raw).__name__}") from None
    if not ids or len(ids) > k or min(ids) < 0 or max(ids) >= n_chunks:
        raise LearnerError(f"retrieve() must return 1 to {k} chunk indices in [0, {n_chunks}), got {ids[:10]}")
    return ids


def _reply(raw) -> str:
    if not isinstance(raw, str):
        raise LearnerError(f"answer() must return the model's reply as a string, got {type(raw).__name__}")
    return raw


def is_model_reply(reply: str, replies: list[str]) -> bool:
    """A short, non-empty text that the model wrote in this call (whitespace aside): a whole reply,
    or a piece cut out of one."""
    r = " ".join(reply.split())
    return bool(r) and len(r.split()) <= MAX_REPLY_WORDS and any(r in " ".join(t.split()) for t in replies)


def _rate(rows: list[dict], side: str, key: str) -> float:
    return sum(float(r[side][key]) for r in rows) / len(rows)


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.settings
    k = cfg.k
    path = ctx.dataset_path or squad_path(ctx)
    articles = load_articles(path)[: cfg.n_articles]
    docs = documents(articles)
    asked = pick_questions(articles, ctx.item_limit(cfg.n_questions), cfg.question_seed)
    progress = ctx.progress

    t0 = time.perf_counter()
    chunks, owner = _chunks(solution, docs)
    embedder = ctx.embedder
    t1 = time.perf_counter()
    index = solution.build_index(embedder, chunks)
    index_s = time.perf_counter() - t1
    chunk_s = t1 - t0
    llm = RecordingLLM(ctx.llm)  # loaded here, so that no question's latency includes the model load

    latencies: list[float] = []
    rows = []
    for i, q in enumerate(asked):
        progress(i, len(asked), "question")
        llm.replies.clear()
        with timed(latencies):
            ids = _ids(solution.retrieve(embedder, index, q["question"], k), len(chunks), k)
            reply = _reply(solution.answer(llm, q["question"], [chunks[j] for j in ids]))
        own = is_model_reply(reply, llm.replies)
        cb = closed_book(llm, q["question"])
        rag = scores(reply, q["answers"]) if own else {"contained": False, "f1": 0.0, "em": False}
        rows.append(
            {
                "id": q["id"],
                "question": q["question"],
                "gold": q["answers"][:3],
                "hit": q["doc"] in {owner[j] for j in ids},
                "retrieved": [owner[j] for j in ids],
                "reply": reply[:200],
                "model_reply": own,
                "rag": rag,
                "closed_book_reply": cb[:200],
                "closed_book": scores(cb, q["answers"]),
            }
        )
    progress(len(asked), len(asked), "question")

    n = len(rows)
    rag_ok = [r["rag"]["contained"] for r in rows]
    cb_ok = [r["closed_book"]["contained"] for r in rows]
    boot = paired_bootstrap([float(x) for x in cb_ok], [float(x) for x in rag_ok], seed=ctx.seed)
    mcn = mcnemar_exact(cb_ok, rag_ok)
    values = {
        f"retrieval_recall@{k}": sum(r["hit"] for r in rows) / n,
        "model_reply_rate": sum(r["model_reply"] for r in rows) / n,
        "answer_contained_rate": _rate(rows, "rag", "contained"),
        "rag_minus_closed_book_ci_low": boot.ci_low,
        "rag_vs_closed_book_mcnemar_p": mcn.p_value,
        "latency_p95_s": p95(latencies),
    }
    metrics = {
        "dataset": Path(path).name,
        "articles": len(articles),
        "paragraphs": len(docs),
        "chunks": len(chunks),
        "questions": n,
        "rag_token_f1": _rate(rows, "rag", "f1"),
        "rag_exact_match": _rate(rows, "rag", "em"),
        "closed_book_contained_rate": _rate(rows, "closed_book", "contained"),
        "closed_book_token_f1": _rate(rows, "closed_book", "f1"),
        "closed_book_exact_match": _rate(rows, "closed_book", "em"),
        "contained_when_retrieved": _share(rows, True),
        "contained_when_missed": _share(rows, False),
        "rag_vs_closed_book": boot.to_dict(),
        "mcnemar": mcn.to_dict(),
        PER_ITEM_KEY: per_item([r["id"] for r in rows], {"answer_contained_rate": rag_ok}),  # the bench's frontier
    }
    timings = {
        "chunk_s": round(chunk_s, 3),
        "index_s": round(index_s, 3),
        "item_p50_s": round(p50(latencies), 3),
        "item_p95_s": round(p95(latencies), 3),
    }
    notes = [
        f"{n} questions; the index holds {len(chunks)} chunks of {len(docs)} paragraphs from "
        f"{len(articles)} articles (every other paragraph of the same articles is a distractor).",
        f"Gold answer in the reply: RAG {values['answer_contained_rate']:.3f} vs closed-book "
        f"{metrics['closed_book_contained_rate']:.3f} (same model, same run): difference {boot.delta:+.3f}, "
        f"95% interval [{boot.ci_low:+.3f}, {boot.ci_high:+.3f}], McNemar p = {mcn.p_value:.4f}.",
        f"Token F1 {metrics['rag_token_f1']:.3f} vs {metrics['closed_book_token_f1']:.3f}, exact match "
        f"{metrics['rag_exact_match']:.3f} vs {metrics['closed_book_exact_match']:.3f}: a small model answers "
        "in a phrase or a sentence around the span, so exact match stays low.",
    ]
    return Measurement(values=values, metrics=metrics, timings=timings, samples=rows, notes=notes)


def _share(rows: list[dict], retrieved: bool) -> float | None:
    """Answer-contained rate among the questions whose paragraph was (or was not) retrieved."""
    part = [r["rag"]["contained"] for r in rows if r["hit"] is retrieved]
    return sum(part) / len(part) if part else None
