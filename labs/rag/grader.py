"""Grader of the rag lab: chunk, embed, index (FAISS HNSW), retrieve, answer yes/no/maybe.

Measured in one run on the same questions: the learner's retrieval (recall@k of the gold
abstract), the learner's answers (valid label rate, accuracy), the same chat model asked
closed-book by the grader (the baseline), and the latency of each question end to end.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from harness.grading.stats import mcnemar_exact, p50, p95, paired_bootstrap
from harness.labs.api import LabContext, LearnerError, Measurement, timed

LABELS = ("yes", "no", "maybe")
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": list(LABELS)}},
    "required": ["answer"],
}
CLOSED_BOOK_SYSTEM = "You answer biomedical research questions with yes, no or maybe."


def pubmedqa_dir(ctx: LabContext) -> Path:
    return ctx.lab_dir.parent / "_data" / "pubmedqa"


def load_questions(path: Path) -> dict[str, dict]:
    """PubMedQA's upstream JSON: {pmid: {QUESTION, CONTEXTS, LABELS, final_decision, ...}}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LearnerError(f"cannot read the dataset {Path(path).name}: {e}") from None
    ok = isinstance(data, dict) and data and all(
        isinstance(v, dict) and isinstance(v.get("QUESTION"), str) and isinstance(v.get("CONTEXTS"), list)
        and v.get("final_decision") in LABELS
        for v in data.values()
    )
    if not ok:
        raise LearnerError(
            f"{Path(path).name} is not in PubMedQA's format: expected "
            "{pmid: {QUESTION, CONTEXTS, final_decision: yes|no|maybe, ...}}"
        )
    return data


def documents(ctx: LabContext, data: dict[str, dict], asked: list[str]) -> list[dict]:
    """The abstracts of the asked questions plus distractor abstracts, each as
    {"pmid", "paragraphs", "sections"}, in a shuffled (seeded) order."""
    docs = [
        {"pmid": p, "paragraphs": list(data[p]["CONTEXTS"]), "sections": list(data[p].get("LABELS") or [])}
        for p in asked
    ]
    by_pmid: dict[str, list[dict]] = {}
    with open(pubmedqa_dir(ctx) / "distractors.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["pmid"] not in data:
                by_pmid.setdefault(row["pmid"], []).append(row)
    others = sorted(by_pmid)
    rng = random.Random(int(ctx.config.get("distractor_seed", 0)))
    rng.shuffle(others)
    for p in others[: int(ctx.config.get("n_distractor_abstracts", 40))]:
        rows = sorted(by_pmid[p], key=lambda r: r["i"])
        docs.append({"pmid": p, "paragraphs": [r["text"] for r in rows], "sections": [r["section"] for r in rows]})
    rng.shuffle(docs)
    return docs


def closed_book(llm, question: str) -> str:
    """The baseline: the same chat model, same constrained decoding, no passages."""
    c = llm.chat(
        [{"role": "system", "content": CLOSED_BOOK_SYSTEM},
         {"role": "user", "content": f"Question: {question}\nAnswer yes, no or maybe."}],
        max_tokens=16, temperature=0.0, seed=0, schema=ANSWER_SCHEMA,
    )
    return parse_label(c.text) or "invalid"


def parse_label(text) -> str | None:
    """A label from what answer() returned: "yes" / {"answer": "yes"} as JSON text; else None."""
    if not isinstance(text, str):
        return None
    t = text.strip()
    if t.startswith("{"):
        try:
            t = str(json.loads(t).get("answer", ""))
        except (json.JSONDecodeError, AttributeError):
            return None
    t = t.strip().strip('".').lower()
    return t if t in LABELS else None


def _chunks(solution, docs: list[dict]) -> tuple[list[str], list[str]]:
    chunks, owner = [], []
    for doc in docs:
        out = solution.chunk(dict(doc))
        if not isinstance(out, list) or not out or not all(isinstance(c, str) and c.strip() for c in out):
            raise LearnerError(f"chunk() must return a non-empty list of non-empty strings, got {type(out).__name__}"
                               + (f" of length {len(out)}" if isinstance(out, list) else ""))
        chunks.extend(out)
        owner.extend([doc["pmid"]] * len(out))
    return chunks, owner


def _ids(raw, n_chunks: int, k: int) -> list[int]:
    try:
        ids = [int(i) for i in list(np.asarray(raw).reshape(-1))]
    except (TypeError, ValueError):
        raise LearnerError(f"retrieve() must return a list of chunk indices, got {type(raw).__name__}") from None
    if not ids or len(ids) > k or min(ids) < 0 or max(ids) >= n_chunks:
        raise LearnerError(f"retrieve() must return 1 to {k} chunk indices in [0, {n_chunks}), got {ids[:10]}")
    return ids


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.config
    k = int(cfg.get("k", 3))
    path = ctx.dataset_path or pubmedqa_dir(ctx) / "dev.json"
    data = load_questions(path)
    asked = [p for p in sorted(data) if data[p]["CONTEXTS"]][: ctx.item_limit(int(cfg.get("n_questions", 60)))]
    docs = documents(ctx, data, asked)

    t0 = time.perf_counter()
    chunks, owner = _chunks(solution, docs)
    embedder = ctx.embedder
    t1 = time.perf_counter()
    index = solution.build_index(embedder, chunks)
    index_s = time.perf_counter() - t1
    chunk_s = t1 - t0
    llm = ctx.llm  # loaded here, so that no question's latency includes the model load

    latencies: list[float] = []
    rows = []
    for p in asked:
        q, gold = data[p]["QUESTION"], data[p]["final_decision"]
        with timed(latencies):
            ids = _ids(solution.retrieve(embedder, index, q, k), len(chunks), k)
            raw = solution.answer(llm, q, [chunks[i] for i in ids])
        label = parse_label(raw)
        rows.append({
            "pmid": p, "gold": gold, "rag": label or "invalid", "raw": str(raw)[:80],
            "hit": p in {owner[i] for i in ids}, "closed_book": closed_book(llm, q),
            "retrieved": [owner[i] for i in ids],
        })

    n = len(rows)
    rag_ok = [r["rag"] == r["gold"] for r in rows]
    cb_ok = [r["closed_book"] == r["gold"] for r in rows]
    majority = max(LABELS, key=lambda lab: sum(r["gold"] == lab for r in rows))
    boot = paired_bootstrap([float(x) for x in cb_ok], [float(x) for x in rag_ok], seed=ctx.seed)
    mcn = mcnemar_exact(cb_ok, rag_ok)
    counts = {lab: sum(r["rag"] == lab for r in rows) for lab in (*LABELS, "invalid")}

    values = {
        f"retrieval_recall@{k}": sum(r["hit"] for r in rows) / n,
        "valid_answer_rate": sum(r["rag"] != "invalid" for r in rows) / n,
        "rag_accuracy": sum(rag_ok) / n,
        "rag_minus_closed_book": boot.delta,
        "rag_minus_closed_book_ci_low": boot.ci_low,
        "rag_minus_closed_book_ci_high": boot.ci_high,
        "latency_p95_s": p95(latencies),
    }
    metrics = {
        "dataset": Path(path).name,
        "questions": n,
        "documents": len(docs),
        "chunks": len(chunks),
        "closed_book_accuracy": sum(cb_ok) / n,
        "majority_label": majority,
        "majority_accuracy": sum(r["gold"] == majority for r in rows) / n,
        "rag_answer_counts": counts,
        "closed_book_answer_counts": {lab: sum(r["closed_book"] == lab for r in rows) for lab in (*LABELS, "invalid")},
        "rag_vs_closed_book": boot.to_dict(),
        "mcnemar": mcn.to_dict(),
    }
    timings = {
        "chunk_s": round(chunk_s, 3),
        "index_s": round(index_s, 3),
        "item_p50_s": round(p50(latencies), 3),
        "item_p95_s": round(p95(latencies), 3),
    }
    notes = [
        f"{n} questions; the index holds {len(chunks)} chunks of {len(docs)} abstracts "
        f"({len(asked)} asked + {len(docs) - len(asked)} distractors).",
        f"RAG accuracy {values['rag_accuracy']:.3f} vs closed-book {metrics['closed_book_accuracy']:.3f} "
        f"(same model, same run): difference {boot.delta:+.3f}, 95% interval [{boot.ci_low:+.3f}, {boot.ci_high:+.3f}], "
        f"McNemar p = {mcn.p_value:.3f}; always answering '{majority}' scores {metrics['majority_accuracy']:.3f}.",
    ]
    return Measurement(values=values, metrics=metrics, timings=timings, samples=rows, notes=notes)
