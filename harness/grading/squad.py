"""SQuAD v1.1's file format, checked in one place for the labs that read it (rag, evals, quantize, assistant)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SQUAD_FORMAT = '{"data": [{"title", "paragraphs": [{"context", "qas": [{"question", "answers": [{"text"}]}]}]}]}'


def squad_articles(data: Any) -> list[dict] | None:
    """The articles of a parsed SQuAD v1.1 file, or None when `data` is not in that format."""
    articles = data.get("data") if isinstance(data, dict) else None
    ok = (
        isinstance(articles, list)
        and articles
        and all(
            isinstance(a, dict)
            and isinstance(a.get("paragraphs"), list)
            and a["paragraphs"]
            and all(
                isinstance(p, dict)
                and isinstance(p.get("context"), str)
                and isinstance(p.get("qas"), list)
                and all(
                    isinstance(q, dict)
                    and isinstance(q.get("question"), str)
                    and isinstance(q.get("answers"), list)
                    and all(isinstance(x, dict) and isinstance(x.get("text"), str) for x in q["answers"])
                    for q in p["qas"]
                )
                for p in a["paragraphs"]
            )
            for a in articles
        )
    )
    return articles if ok else None


def read_squad(path: Path | str, error: type[Exception] = ValueError) -> list[dict]:
    """The articles of a SQuAD v1.1 file; `error` (a grader passes LearnerError) says what is wrong
    with an unreadable file or another format."""
    name = Path(path).name
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"cannot read the dataset {name}: {e}") from None
    articles = squad_articles(data)
    if articles is None:
        raise error(f"{name} is not in SQuAD v1.1's format: expected {SQUAD_FORMAT}")
    return articles


def paragraph_documents(articles: list[dict]) -> list[dict]:
    """One document per paragraph: {"id": "a<article>-p<paragraph>", "title" (spaces, as Wikipedia shows it), "text"}."""
    return [
        {"id": f"a{ai}-p{pi}", "title": str(a.get("title", "")).replace("_", " "), "text": p["context"]}
        for ai, a in enumerate(articles)
        for pi, p in enumerate(a["paragraphs"])
    ]


def pick_questions(articles: list[dict], n: int, seed: int) -> list[dict]:
    """n questions, seeded, spread over the paragraphs: one per paragraph first, a second one from
    each only when a small file has fewer than n paragraphs. Each {"id", "question", "answers",
    "doc"}, doc being the id of the question's paragraph (as paragraph_documents names it)."""
    rng = random.Random(seed)
    pool = []
    for ai, a in enumerate(articles):
        for pi, p in enumerate(a["paragraphs"]):
            qs = [q for q in p["qas"] if any(x["text"].strip() for x in q["answers"])]
            rng.shuffle(qs)
            if qs:
                pool.append((f"a{ai}-p{pi}", qs))
    rng.shuffle(pool)
    picked: list = []
    for round_ in range(max((len(qs) for _, qs in pool), default=0)):
        for doc, qs in pool:
            if len(picked) < n and round_ < len(qs):
                q = qs[round_]
                picked.append(
                    {
                        "id": str(q.get("id", "")),
                        "question": q["question"],
                        "answers": [x["text"] for x in q["answers"] if x["text"].strip()],
                        "doc": doc,
                    }
                )
    return picked
