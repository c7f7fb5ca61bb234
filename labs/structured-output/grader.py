"""Grader of structured-output.

For each GSM8K problem the learner's `extract` (constrained) and `extract_unconstrained` run on
the real model. The grader checks every reply against its OWN schema (pydantic), scores the
two fields against gold taken from the problem text itself, and measures how often the same
prompt without the schema fails to give valid JSON, in the same run.

The fields are ones a 135M model can extract (measured, see lab.toml): the FIRST number written
with digits (exact), and the question sentence scored by token F1 (the model often shortens or
rewords it a little; an exact-match score would measure paraphrasing, not extraction).

A thin recorder around the model checks that the constrained calls really sent a schema and
returned the model's reply, and that the unconstrained ones sent none: extraction done with a
regex over the problem, or a parse of unconstrained text, is not what this lab teaches.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.grading.metrics import normalize_text, token_f1
from harness.grading.outcomes import PER_ITEM_KEY, per_item
from harness.grading.stats import p50, p95
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement, timed


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_items: int = 20
    file: str = "test_head200.jsonl"  # under labs/_data/gsm8k/


NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")


class Extraction(BaseModel):
    """The grader's schema: what every reply must be (extra keys are tolerated)."""

    model_config = ConfigDict(strict=True, extra="allow")
    first_number: float
    question: str


class Recorder:
    """Passes chat calls through and keeps (schema sent?, reply text) of each."""

    def __init__(self, llm):
        self._llm = llm
        self.calls: list[tuple[bool, str, object]] = []

    def chat(self, messages, **kw):
        c = self._llm.chat(messages, **kw)
        self.calls.append((kw.get("schema") is not None, c.text, c))
        return c

    def __getattr__(self, name):
        return getattr(self._llm, name)


def gold_numbers(problem: str) -> list[float]:
    return [float(m.replace(",", "")) for m in NUMBER_RE.findall(problem)]


def gold_question(problem: str) -> str | None:
    asks = [s for s in SENTENCE_END_RE.split(problem.strip()) if s.endswith("?")]
    return asks[-1] if asks else None


def load_problems(ctx: LabContext) -> list[dict]:
    path = ctx.dataset_path or (ctx.lab_dir.parent / "_data" / "gsm8k" / ctx.settings.file)
    items = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("question"), str):
            raise ValueError(f"{Path(path).name} line {i}: a GSM8K line needs a 'question' string")
        question, numbers = gold_question(row["question"]), gold_numbers(row["question"])
        # A few problems ask without a question mark or write every number in words: no gold for them.
        if question is not None and numbers:
            items.append({"problem": row["question"], "numbers": numbers, "question": question})
    return items[: ctx.item_limit(ctx.settings.n_items)]


def parse_reply(text: str) -> Extraction | None:
    """Valid = the whole reply (code fences allowed) is one JSON object matching the schema."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        return Extraction.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None


def _same_number(got: float, gold: float) -> bool:
    return abs(got - gold) <= 1e-9 * max(1.0, abs(gold))


def grade(solution, ctx: LabContext) -> Measurement:
    llm = Recorder(ctx.llm)  # loads the model before anything is timed
    schema = solution.build_schema()
    if not isinstance(schema, dict):
        raise LearnerError(f"build_schema returned {type(schema).__name__}; it must return a JSON schema (a dict)")
    items = load_problems(ctx)
    latencies: list[float] = []
    samples, notes = [], []
    valid = honest_constrained = honest_unconstrained = first_ok = question_exact = unconstrained_valid = 0
    question_f1s: list[float] = []
    first_number_ok: list[bool] = []  # per item, for the bench's frontier
    tokens_in = tokens_out = 0

    for i, item in enumerate(items):
        ctx.progress(i, len(items), "problem")
        start = len(llm.calls)
        with timed(latencies):
            try:
                got = solution.extract(llm, item["problem"])
            except ValueError as e:  # json.loads of a reply cut off at max_tokens: an invalid reply
                got = None
                if not any("cut off" in x for x in notes):
                    notes.append(
                        f"extract raised {type(e).__name__} ({e}): a reply cut off at max_tokens is not "
                        "JSON; bound the schema (maxItems, maxLength) so the grammar ends in time"
                    )
        mine = llm.calls[start:]
        # Honest = the model was asked with a schema and the returned object is its reply, parsed.
        sent_schema = bool(mine) and all(s for s, _, _ in mine)
        try:
            reply_obj = json.loads(mine[-1][1]) if mine else None
        except ValueError:
            reply_obj = None
        honest_constrained += sent_schema and got == reply_obj
        parsed = None
        if isinstance(got, dict):
            try:
                parsed = Extraction.model_validate(got)
            except ValidationError:
                parsed = None
        valid += parsed is not None
        n_ok = parsed is not None and bool(item["numbers"]) and _same_number(parsed.first_number, item["numbers"][0])
        q_f1 = token_f1(parsed.question, item["question"]) if parsed is not None else 0.0
        q_ok = parsed is not None and normalize_text(parsed.question) == normalize_text(item["question"])
        first_ok += n_ok
        first_number_ok.append(n_ok)
        question_f1s.append(q_f1)
        question_exact += q_ok

        start = len(llm.calls)
        raw = solution.extract_unconstrained(llm, item["problem"])
        if not isinstance(raw, str):
            raise LearnerError(
                f"extract_unconstrained returned {type(raw).__name__}; it must return the reply text (a str)"
            )
        mine_u = llm.calls[start:]
        honest_unconstrained += bool(mine_u) and not any(s for s, _, _ in mine_u) and raw == mine_u[-1][1]
        u_ok = parse_reply(raw) is not None
        unconstrained_valid += u_ok
        for _, _, c in mine + mine_u:
            tokens_in += c.prompt_tokens
            tokens_out += c.completion_tokens
        samples.append(
            {
                "problem": item["problem"][:160],
                "constrained": got if isinstance(got, dict) else repr(got)[:300],
                "valid": parsed is not None,
                "first_number_ok": n_ok,
                "question_f1": round(q_f1, 3),
                "unconstrained": raw[:300],
                "unconstrained_valid": u_ok,
            }
        )

    n = len(items)
    if n == 0:
        raise ValueError("no GSM8K problem with a question sentence and a number written with digits in the dataset")
    constrained_rate = valid / n
    unconstrained_rate = unconstrained_valid / n
    honest = (honest_constrained + honest_unconstrained) / (2 * n)
    if honest < 1:
        notes.append(
            "extract must call llm.chat with schema= and return json.loads(reply.text); "
            "extract_unconstrained must call it without schema= and return reply.text."
        )
    return Measurement(
        values={
            "constrained_valid_rate": constrained_rate,
            "model_calls_as_asked": honest,
            "first_number_accuracy": first_ok / n,
            "question_f1": sum(question_f1s) / n,
            "validity_gain": constrained_rate - unconstrained_rate,
        },
        metrics={
            "items": n,
            "question_exact_match": question_exact / n,
            "unconstrained_valid_rate": unconstrained_rate,
            "unconstrained_failure_rate": 1 - unconstrained_rate,
            "learner_schema": schema,
            PER_ITEM_KEY: per_item([item["problem"] for item in items], {"first_number_accuracy": first_number_ok}),
        },
        timings={
            "item_p50_s": p50(latencies),
            "item_p95_s": p95(latencies),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
        },
        samples=samples,
        notes=notes
        + [
            f"Without the schema {1 - unconstrained_rate:.0%} of the replies were not valid JSON "
            f"of the required shape; with it {1 - constrained_rate:.0%}."
        ],
    )
