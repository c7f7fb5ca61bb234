#!/usr/bin/env python3
"""Retrieval quality of the default embedding model vs a TF-IDF baseline, on real data.

Task: PubMedQA (PQA-L) dev questions -> their whole abstract, among all 1,000 PQA-L abstracts
(the 500 dev abstracts + the 500 test abstracts as distractors), data from labs/_data/pubmedqa/.
Prints recall@1 and recall@5 of both methods, and embedding throughput.

    .venv/bin/python scripts/retrieval-recall.py [--questions 300] [--threads 1] [--json]
    .venv/bin/python scripts/retrieval-recall.py --batching     # one-by-one vs list embed() timings

Note: the questions paraphrase the titles, so this set is easy for both methods.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "labs" / "_data" / "pubmedqa"
sys.path.insert(0, str(ROOT))


def load(n_questions: int):
    questions = {}
    for name in ("dev.json", "heldout.json"):
        questions.update(json.loads((DATA / name).read_text()))
    docs = {pmid: " ".join(q["CONTEXTS"]) for pmid, q in questions.items()}
    paras: dict[str, list[tuple[int, str]]] = {}
    for line in (DATA / "distractors.jsonl").read_text().splitlines():
        r = json.loads(line)
        paras.setdefault(r["pmid"], []).append((r["i"], r["text"]))
    for pmid, ps in paras.items():
        docs[pmid] = " ".join(t for _, t in sorted(ps))
    doc_ids = sorted(docs)
    q_ids = sorted(questions)[:n_questions]
    return [questions[p]["QUESTION"] for p in q_ids], q_ids, [docs[d] for d in doc_ids], doc_ids


# ------------------------------------------------------------------------------ TF-IDF (numpy)

_WORD = re.compile(r"[a-z0-9]+")


def tfidf(queries: list[str], docs: list[str]) -> np.ndarray:
    """Scores (n_queries, n_docs): sublinear tf, smoothed idf, cosine; terms of the docs only."""
    doc_counts = [Counter(_WORD.findall(d.lower())) for d in docs]
    vocab = {t: i for i, t in enumerate(sorted({t for c in doc_counts for t in c}))}
    df = np.zeros(len(vocab), np.float32)
    for c in doc_counts:
        df[[vocab[t] for t in c]] += 1
    idf = np.log((1 + len(docs)) / (1 + df)) + 1

    def vecs(counts):
        m = np.zeros((len(counts), len(vocab)), np.float32)
        for row, c in enumerate(counts):
            for t, n in c.items():
                if t in vocab:
                    m[row, vocab[t]] = (1 + np.log(n)) * idf[vocab[t]]
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)

    return vecs([Counter(_WORD.findall(q.lower())) for q in queries]) @ vecs(doc_counts).T


# ------------------------------------------------------------------------------ embeddings


def open_embedder(model: str, threads: int, n_ctx: int):
    import llama_cpp

    from harness.models.store import resolve_model_path

    # n_batch = n_ubatch = n_ctx: embed() truncates to n_batch, and an input longer than n_ubatch
    # would abort the process (FINDINGS); 256 is where sentence-transformers stops for MiniLM.
    return llama_cpp.Llama(str(resolve_model_path(model)), embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                           n_threads=threads, n_threads_batch=threads, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                           verbose=False)  # fmt: skip


def embed_one_by_one(llm, texts: list[str]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = np.array([llm.embed(t, normalize=True) for t in texts], np.float32)
    return out, time.perf_counter() - t0


def recall(scores: np.ndarray, q_ids: list[str], doc_ids: list[str], k: int) -> float:
    gold = np.array([doc_ids.index(q) for q in q_ids])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == gold[:, None]).any(axis=1).mean())


def batching_experiment(model: str, threads: int) -> dict:
    """Why was embed(list) slower than a loop? Time both on paragraph-sized passages while
    varying n_batch/n_ubatch (how many tokens of how many sequences go into one decode)."""
    paras = [json.loads(line)["text"] for line in (DATA / "distractors.jsonl").read_text().splitlines()][:64]
    rows = []
    for n_batch in (512, 256, 128):
        llm = open_embedder(model, threads, n_batch)
        paras_ok = [p for p in paras if len(llm.tokenize(p.encode())) <= min(n_batch, 128)]
        llm.embed(paras_ok[:2], normalize=True)  # warm-up
        _, t_single = embed_one_by_one(llm, paras_ok)
        t0 = time.perf_counter()
        llm.embed(paras_ok, normalize=True)
        t_list = time.perf_counter() - t0
        n_tok = sum(len(llm.tokenize(p.encode())) for p in paras_ok)
        rows.append({"n_batch=n_ubatch": n_batch, "passages": len(paras_ok), "mean_tokens": round(n_tok / len(paras_ok), 1),
                     "one_by_one_per_s": round(len(paras_ok) / t_single, 1), "list_per_s": round(len(paras_ok) / t_list, 1)})  # fmt: skip
        del llm
    return {"batching": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm-l6-v2")
    ap.add_argument("--questions", type=int, default=300, help="how many dev questions (max 500)")
    ap.add_argument(
        "--threads", type=int, default=1, help="n_threads = n_threads_batch (1 holds up best on a shared CPU)"
    )
    ap.add_argument("--n-ctx", type=int, default=256)
    ap.add_argument("--batching", action="store_true", help="also time one-by-one vs list embed() calls")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    queries, q_ids, docs, doc_ids = load(a.questions)
    t0 = time.perf_counter()
    s_tfidf = tfidf(queries, docs)
    t_tfidf = time.perf_counter() - t0
    llm = open_embedder(a.model, a.threads, a.n_ctx)
    d_emb, t_docs = embed_one_by_one(llm, docs)
    q_emb, t_q = embed_one_by_one(llm, queries)
    s_emb = q_emb @ d_emb.T
    res = {
        "dataset": f"PubMedQA PQA-L: {len(queries)} dev questions -> whole abstract among {len(docs)}",
        "model": a.model, "threads": a.threads, "n_ctx": a.n_ctx,
        "embedding": {"recall@1": recall(s_emb, q_ids, doc_ids, 1), "recall@5": recall(s_emb, q_ids, doc_ids, 5),
                      "docs_per_s": round(len(docs) / t_docs, 1), "queries_per_s": round(len(queries) / t_q, 1)},
        "tfidf": {"recall@1": recall(s_tfidf, q_ids, doc_ids, 1), "recall@5": recall(s_tfidf, q_ids, doc_ids, 5),
                  "seconds": round(t_tfidf, 2)},
    }  # fmt: skip
    del llm
    if a.batching:
        res.update(batching_experiment(a.model, a.threads))
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(res["dataset"])
    print(f"{'method':<28}{'recall@1':>10}{'recall@5':>10}")
    print(f"{a.model + ' (llama.cpp)':<28}{res['embedding']['recall@1']:>10.3f}{res['embedding']['recall@5']:>10.3f}")
    print(f"{'TF-IDF (numpy)':<28}{res['tfidf']['recall@1']:>10.3f}{res['tfidf']['recall@5']:>10.3f}")
    e = res["embedding"]
    print(f"embedding speed ({a.threads} thread(s)): {e['docs_per_s']} abstracts/s, {e['queries_per_s']} questions/s")
    for r in res.get("batching", []):
        print(f"n_batch=n_ubatch={r['n_batch=n_ubatch']}: {r['passages']} passages (~{r['mean_tokens']} tokens): "
              f"one by one {r['one_by_one_per_s']}/s, as a list {r['list_per_s']}/s")  # fmt: skip


if __name__ == "__main__":
    main()
