"""Grader of first-tokens: measures the learner's functions on the real model.

The learner gets a thin recorder around the model, so every Completion the harness produced
(with its own timings) can be compared with what the learner measured for the same call.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

from harness.grading.metrics import contains_answer
from harness.grading.stats import p50, p95
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement, timed


class StopCase(GraderSettings):
    prompt: str
    stop: str


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    answer_max_tokens: int
    repeat_questions: int
    temperature: float
    n_seeds: int
    sample_prompts: list[str]
    stop_max_tokens: int
    stop_cases: list[StopCase]
    timing_runs: int
    timing_prompt: str
    timing_max_tokens: int
    min_decode_tokens: int
    cache_max_tokens: int
    cache_questions: list[str]
    cache_instructions: str


class Recorder:
    """Passes every call through to the model and keeps the Completions it returned."""

    def __init__(self, llm):
        self._llm = llm
        self.completions = []

    def chat(self, messages, **kw):
        c = self._llm.chat(messages, **kw)
        self.completions.append(c)
        return c

    def complete(self, prompt, **kw):
        c = self._llm.complete(prompt, **kw)
        self.completions.append(c)
        return c

    def stream(self, messages, **kw):
        return self._recorded(self._llm.stream(messages, **kw))  # the request starts now, as for the model

    def _recorded(self, chunks):
        for chunk in chunks:
            if chunk.done:
                self.completions.append(chunk.completion)
            yield chunk

    def __getattr__(self, name):  # count_tokens, info, name, ...
        return getattr(self._llm, name)


def load_questions(ctx: LabContext) -> list[dict]:
    path = ctx.dataset_path or (ctx.data_dir / "questions.jsonl")
    items = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row.get("question"), str) or not row.get("answers"):
                raise ValueError(f"{Path(path).name} line {i}: needs 'question' and 'answers'")
            items.append(row)
    return items[: ctx.item_limit(len(items))]


def _text(value, func: str) -> str:
    if not isinstance(value, str):
        raise LearnerError(f"{func} returned {type(value).__name__}; it must return the generated text (a str)")
    return value


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.settings
    llm = Recorder(ctx.llm)  # loads the model first, so no learner timing includes the load
    values, metrics, notes, samples = {}, {}, [], []

    # 1. Chat template + greedy decoding: easy questions, asked twice for determinism.
    latencies: list[float] = []
    questions = load_questions(ctx)
    prompts = cfg.sample_prompts[: ctx.item_limit(len(cfg.sample_prompts))]
    total = len(questions) + len(prompts) + len(cfg.stop_cases) + cfg.timing_runs + len(cfg.cache_questions)
    finished = iter(range(total))

    def step() -> None:  # before each item, how many are done, counted over all the parts below
        ctx.progress(next(finished, total), total)

    answers = []
    for q in questions:
        step()
        with timed(latencies):
            answers.append(_text(solution.chat_once(llm, q["question"], max_tokens=cfg.answer_max_tokens), "chat_once"))
    right = [contains_answer(a, q["answers"]) for a, q in zip(answers, questions)]
    values["answers_correct"] = sum(right) / len(questions)
    samples += [{"question": q["question"], "answer": a, "correct": r} for q, a, r in zip(questions, answers, right)]
    same = [
        _text(solution.chat_once(llm, q["question"], max_tokens=cfg.answer_max_tokens), "chat_once") == a
        for q, a in list(zip(questions, answers))[: cfg.repeat_questions]
    ]

    # 2. Sampling: temperature 0 ignores the seed; above 0 the seed decides the text.
    base = ctx.seed * 1000 + 1
    p0 = cfg.sample_prompts[0]
    greedy = [_text(solution.sample(llm, p0, 0.0, seed), "sample") for seed in (base, base + 1)]
    same.append(greedy[0] == greedy[1])
    values["deterministic_temp0"] = sum(same) / len(same)
    reproducible, differs = [], []
    temp = cfg.temperature
    for prompt in prompts:
        step()
        texts = [_text(solution.sample(llm, prompt, temp, base + k), "sample") for k in range(cfg.n_seeds)]
        again = _text(solution.sample(llm, prompt, temp, base), "sample")
        reproducible.append(again == texts[0])
        differs += [a != b for a, b in combinations(texts, 2)]
        metrics.setdefault("sampled", []).append({"prompt": prompt, "texts": texts})
    values["seed_reproducible"] = sum(reproducible) / len(reproducible)
    values["seed_diversity"] = sum(differs) / len(differs)

    # 3. Stop strings: the stopped text is the unstopped text cut just before the stop string.
    stop_ok = []
    for case in cfg.stop_cases:
        step()
        s = case.stop
        full = _text(solution.sample(llm, case.prompt, 0.0, base, stop=None, max_tokens=cfg.stop_max_tokens), "sample")
        cut = _text(solution.sample(llm, case.prompt, 0.0, base, stop=[s], max_tokens=cfg.stop_max_tokens), "sample")
        if s not in full:
            notes.append(f"stop case {case.prompt!r}: the reply without a stop did not contain {s!r}; not counted")
            continue
        stop_ok.append(s not in cut and cut.strip() == full[: full.index(s)].strip())
    if stop_ok:
        values["stop_respected"] = sum(stop_ok) / len(stop_ok)

    # 4. The learner's own timing of a stream against the harness's timing of the same call.
    text_ok, tokens_ok, decode_err, ttft_err, runs = [], [], [], [], []
    for _ in range(cfg.timing_runs):
        step()
        before = len(llm.completions)
        got = solution.stream_and_time(llm, cfg.timing_prompt, cfg.timing_max_tokens)
        if not isinstance(got, dict) or not {"text", "ttft_s", "decode_tok_s", "n_tokens"} <= set(got):
            raise LearnerError("stream_and_time must return a dict with text, ttft_s, decode_tok_s and n_tokens")
        if len(llm.completions) == before:
            raise LearnerError(
                "stream_and_time did not read the stream to its end: the last chunk "
                "(done=True) carries the Completion, keep iterating until it comes"
            )
        c = llm.completions[-1]
        t = c.timings
        try:
            mine = {k: float(got[k]) for k in ("ttft_s", "decode_tok_s", "n_tokens")}
        except (TypeError, ValueError):
            raise LearnerError("ttft_s, decode_tok_s and n_tokens must be numbers") from None
        text_ok.append(isinstance(got["text"], str) and got["text"].strip() == c.text.strip())
        tokens_ok.append(abs(mine["n_tokens"] - c.completion_tokens) <= max(1, 0.05 * c.completion_tokens))
        if t.decode_tok_s and c.completion_tokens >= cfg.min_decode_tokens:
            decode_err.append(abs(mine["decode_tok_s"] - t.decode_tok_s) / t.decode_tok_s)
        if t.ttft_s is not None and t.total_s:
            ttft_err.append(abs(mine["ttft_s"] - t.ttft_s) / t.total_s)
        runs.append(
            {
                "yours": mine,
                "harness": {
                    "ttft_s": t.ttft_s,
                    "decode_tok_s": t.decode_tok_s,
                    "n_tokens": c.completion_tokens,
                    "total_s": t.total_s,
                },
            }
        )
    metrics["timing_runs"] = runs
    values["stream_text"] = sum(text_ok) / len(text_ok)
    values["tokens_agree"] = sum(tokens_ok) / len(tokens_ok)
    if decode_err:
        values["decode_error"] = max(decode_err)
    else:
        notes.append(f"the model stopped before {cfg.min_decode_tokens} tokens: decode speed not compared")
    if ttft_err:
        values["ttft_error"] = max(ttft_err)
    last = runs[-1]
    notes.append(
        f"last stream: you measured TTFT {last['yours']['ttft_s'] * 1000:.0f} ms, "
        f"{last['yours']['decode_tok_s']:.1f} tok/s, {last['yours']['n_tokens']:.0f} tokens; the harness "
        f"{(last['harness']['ttft_s'] or 0) * 1000:.0f} ms, {last['harness']['decode_tok_s'] or 0:.1f} tok/s, "
        f"{last['harness']['n_tokens']} tokens"
    )

    # 5. Prompt caching: the same long instructions twice, the first time new to the model. The
    #    learner's own stream_and_time measures both; the harness says how much came from the cache.
    cache_runs = []
    for question in cfg.cache_questions:
        step()
        got = solution.stream_and_time(llm, f"{cfg.cache_instructions}\n\n{question}", cfg.cache_max_tokens)
        c = llm.completions[-1]
        cache_runs.append(
            {
                "yours_ttft_s": float(got["ttft_s"]) if isinstance(got, dict) else None,
                "harness_ttft_s": c.timings.ttft_s,
                "prompt_tokens": c.prompt_tokens,
                "cached_tokens": c.cached_tokens,
            }
        )
    metrics["prompt_cache"] = cache_runs
    cold, cached = cache_runs[0], cache_runs[-1]
    if cached["cached_tokens"]:
        speedup = (cold["yours_ttft_s"] or 0) / cached["yours_ttft_s"] if cached["yours_ttft_s"] else None
        notes.append(
            f"prompt caching: the same {cold['prompt_tokens']}-token instructions took you "
            f"{(cold['yours_ttft_s'] or 0) * 1000:.0f} ms to the first token the first time and "
            f"{(cached['yours_ttft_s'] or 0) * 1000:.0f} ms the second time"
            + (f" ({speedup:.1f}x faster)" if speedup else "")
            + f", when {cached['cached_tokens']} of its {cached['prompt_tokens']} tokens came from the KV cache"
        )
    else:
        notes.append(
            "prompt caching: off for this run (--no-prefix-cache, or a backend that does not report it): "
            f"the same instructions took {(cold['yours_ttft_s'] or 0) * 1000:.0f} ms and "
            f"{(cached['yours_ttft_s'] or 0) * 1000:.0f} ms to the first token"
        )

    done = llm.completions
    return Measurement(
        values=values,
        metrics={**metrics, "n_questions": len(questions), "calls": len(done)},
        timings={
            "item_p50_s": p50(latencies),
            "item_p95_s": p95(latencies),
            "ttft_cold_s": cold["harness_ttft_s"],  # the same instructions, new to the model ...
            "ttft_cached_s": cached["harness_ttft_s"],  # ... and again, from the cache
            "tokens_in": sum(c.prompt_tokens for c in done),
            "tokens_out": sum(c.completion_tokens for c in done),
            "decode_tok_s_p50": p50([c.timings.decode_tok_s for c in done if c.timings.decode_tok_s])
            if any(c.timings.decode_tok_s for c in done)
            else None,
        },
        samples=samples,
        notes=notes,
    )
