"""Prefix reuse in the in-process backend: a prompt that shares a prefix with the call before
evaluates only the rest, and gets the logits and the tokens of the same prompt evaluated cold, on
both model families, with and without repacked weights, a JSON schema, a seed. Plus the llama.cpp
facts behind the rules (docs/backends.md, "Prefix reuse"): they fail if llama.cpp changes them."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from harness.backends.llama_prefix import MIN_PIECE, REUSE_ALIGN, exact_rows, reusable_prefix
from harness.backends.registry import open_backend

# ~400 tokens of shared instructions, then a short question: what a lab sends with every item
SYSTEM = " ".join(["You answer quiz questions about geography, history and science in one short sentence."] * 25)
QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Italy?",
    "Which ocean is the largest?",
    "What is the capital of France?",
    "Name a large river in Africa.",
    "What is the capital of France?",
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 60}}, "required": ["answer"]}
MODELS = {"chat_model_path": "smollm2-135m", "second_family_model_path": "gemma3-270m"}


def test_reusable_prefix_keeps_the_rules():
    assert reusable_prefix([], list(range(100)), 512) == 0
    same = list(range(100))
    assert reusable_prefix(same, same, 512) == 92  # the identical prompt again: 8 tokens evaluated
    assert reusable_prefix(same, same[:50] + [999] * 50, 512) == 48  # cut to a multiple of 4
    assert reusable_prefix(same[:30], same, 512) == 28
    assert reusable_prefix(same, same, 64) == 92  # 92..99: the prompt's last piece
    longer = list(range(200))
    assert reusable_prefix(longer[:62], longer, 64) == 56  # not 60: 60..63 would be a piece of 4
    assert reusable_prefix(same, same[:9], 512) == 0
    assert exact_rows(0, 383) == 380 and exact_rows(376, 384) == 384 and exact_rows(380, 387) == 380
    assert (REUSE_ALIGN, MIN_PIECE) == (4, 8)


def _open(model: str, **kw):
    return open_backend("llama-cpp", model, device="cpu", n_ctx=2048, **kw)  # default threads: this worker's cores


def _last_logits(be) -> np.ndarray:
    lc = be._lc
    ptr = lc.llama_get_logits_ith(be._llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(be._llm.n_vocab(),)).astype(np.float64).copy()


def _prefill(be, tokens: list[int], reuse: int) -> np.ndarray:
    """What a generation does before its first sample, with `reuse` tokens taken from the cache."""
    be._llm.reset()
    be._prefill(tokens, be._trim_cache(reuse), len(tokens))
    return _last_logits(be)


def _random_prompts(be, n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    words = "the a river city ocean capital science history number seven blue green answer question why".split()
    bases = [" ".join(rng.choice(words) for _ in range(rng.randint(20, 200))) for _ in range(3)]
    out = []
    for _ in range(n):  # the same instructions again, or others, as a lab's alternating prompts
        q = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        out.append(
            be._chat_prompt([{"role": "system", "content": rng.choice(bases)}, {"role": "user", "content": q}])[0]
        )
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "fixture, extra_bufts",
    [
        ("chat_model_path", True),  # Q4_1: llama.cpp repacks none of its weights on this CPU, so one case
        ("second_family_model_path", True),  # Q4_K: repacked (4-row groups) ...
        ("second_family_model_path", False),  # ... and not (the < 8-token batch path)
    ],
    ids=["smollm2", "gemma3-repacked", "gemma3-plain"],
)
def test_cached_prefill_gives_the_logits_of_a_cold_one(fixture, extra_bufts, request):
    request.getfixturevalue(fixture)
    hot = _open(MODELS[fixture], extra_bufts=extra_bufts, n_batch=64)  # 64: pieces cross n_batch boundaries
    cold = _open(MODELS[fixture], extra_bufts=extra_bufts, n_batch=64, prefix_cache=False)
    try:
        reused = []
        for i, tokens in enumerate(_random_prompts(hot, 12, seed=1)):
            if i % 4 == 3:  # generated rows in the cache too
                list(hot._generate(tokens, t_start=0.0, max_tokens=5, temperature=0.0, seed=None, stop=(), schema=None))
            reuse = hot._choose_prefix(tokens, reusable_prefix(hot._kv_tokens, tokens, hot.n_batch))
            a, b = _prefill(hot, tokens, reuse), _prefill(cold, tokens, 0)
            assert abs(a - b).max() == 0.0, f"prompt {i}: {len(tokens)} tokens, {reuse} from the cache"
            reused.append(reuse)
        assert sum(r > 0 for r in reused) >= 6  # the check compared cached prefills, not only cold ones
        assert hot._saved.restores >= 2  # and prefixes copied out and back in
    finally:
        hot.close()
        cold.close()


@pytest.mark.slow
def test_without_the_rules_gemma_logits_differ(second_family_model_path):
    """Why the rules exist: a short suffix, or one off the 4-row groups, changes Gemma 3's logits."""
    be = _open("gemma3-270m", extra_bufts=True)
    try:
        tokens = be._chat_prompt([{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[2]}])[0]
        cold = _prefill(be, tokens, 0)
        short = _prefill(be, tokens, len(tokens) - 3)  # 3 tokens evaluated
        _prefill(be, tokens, 0)
        start = (len(tokens) - 40) // 4 * 4 + 1  # 40ish tokens, starting off a group of 4
        off_group = _prefill(be, tokens, start)
        _prefill(be, tokens, 0)
        aligned = _prefill(be, tokens, (len(tokens) - 40) // 4 * 4)
    finally:
        be.close()
    assert abs(cold - aligned).max() == 0  # the rules' prefix gives the cold logits
    assert abs(cold - off_group).max() > 0  # repacked weights: rows in groups of 4 (AVX2 and AVX-512 alike)
    # A batch of under 8 tokens takes another kernel path on an AMD EPYC with AVX2 (max |dlogit| 0.45-0.9);
    # on an Intel Xeon with AVX-512 (ggml built for the CPU it runs on) 1-7 token batches give the same logits.
    if not _has_avx512():
        assert abs(cold - short).max() > 0


def _has_avx512() -> bool:
    try:
        return "avx512f" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def _calls():
    """(messages, kwargs) of a session: repeated prompts, a schema, a seed above temperature 0, a stop."""
    out = []
    for i, q in enumerate(QUESTIONS):
        kw: dict = {"max_tokens": 24}
        if i == 2:
            kw["schema"] = SCHEMA
        if i == 3:
            kw.update(temperature=0.8, seed=7)
        if i == 4:
            kw["stop"] = ["."]
        out.append(([{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}], kw))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fixture", list(MODELS))
def test_cached_prompts_give_the_tokens_of_cold_ones(fixture, request):
    request.getfixturevalue(fixture)
    hot, cold = _open(MODELS[fixture]), _open(MODELS[fixture], prefix_cache=False)
    try:
        assert hot.prefix_cache and not hot.flash_attn and not cold.prefix_cache
        assert hot.info().extra["prefix_cache"] is True
        for messages, kw in _calls():
            a, b = hot.chat(messages, **kw), cold.chat(messages, **kw)
            assert a.text == b.text and a.completion_tokens == b.completion_tokens, (messages[-1], kw)
            assert b.cached_tokens == 0
        assert a.cached_tokens > 0.9 * a.prompt_tokens  # the shared instructions came from the cache
        evaluated = a.prompt_tokens - a.cached_tokens
        assert a.timings.prefill_tok_s * a.timings.ttft_s == pytest.approx(evaluated)
        # a stream read to its end leaves the cache as chat does: the same prompt again is cached
        messages, _ = _calls()[0]
        streamed = "".join(c.text for c in hot.stream(messages, max_tokens=24))
        again = hot.chat(messages, max_tokens=24)
        assert (
            streamed == again.text
            and again.cached_tokens
            == reusable_prefix(hot._kv_tokens, hot._chat_prompt(messages)[0], hot.n_batch)
            > 0.9 * again.prompt_tokens
        )
    finally:
        hot.close()
        cold.close()


@pytest.mark.slow
def test_the_second_call_with_the_same_instructions_is_much_faster(chat_model_path):
    be = _open("smollm2-135m")
    try:
        first = be.chat(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[0]}], max_tokens=4
        )
        second = be.chat(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[1]}], max_tokens=4
        )
    finally:
        be.close()
    assert first.cached_tokens == 0 and second.cached_tokens > 370
    assert second.timings.ttft_s < first.timings.ttft_s / 2  # measured ~25x; 2x cannot flake on prefill


@pytest.mark.slow
def test_reuse_is_off_where_it_would_change_answers(chat_model_path, monkeypatch):
    with_fa = _open("smollm2-135m", flash_attn=True)
    try:
        assert not with_fa.prefix_cache  # flash attention on: cached and cold logits differ
    finally:
        with_fa.close()
    monkeypatch.setenv("HARNESS_PREFIX_CACHE", "0")
    off = _open("smollm2-135m")
    try:
        assert not off.prefix_cache
        off.chat([{"role": "user", "content": "Hi"}], max_tokens=2)
        assert off.chat([{"role": "user", "content": "Hi"}], max_tokens=2).cached_tokens == 0
    finally:
        off.close()


@pytest.mark.slow
def test_flash_attention_makes_cached_prefill_differ_from_cold(chat_model_path):
    """Why reuse is off with flash attention on: pins llama.cpp's behaviour (fails if it changes)."""
    diffs = {}
    for fa in (False, True):
        be = _open("smollm2-135m", flash_attn=fa, prefix_cache=False)
        try:
            tokens = be._chat_prompt(
                [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[0]}]
            )[0]
            cold = _prefill(be, tokens, 0)
            diffs[fa] = abs(cold - _prefill(be, tokens, (len(tokens) - 20) // 4 * 4)).max()
        finally:
            be.close()
    assert diffs[False] == 0.0 and diffs[True] > 0.0, diffs
