"""The `throughput` pseudo-lab: llama-bench-comparable speed through the Backend protocol.

pp<N>: prefill of an N-token prompt (tok/s), tg<N>: N generated tokens (tok/s), each as mean ± stddev
over repetitions after warm-up, like llama-bench. Plus LocalScore-like (prompt, generation) pairs with
time to first token. Every prompt starts with a different word, so no run reuses another's KV cache.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from harness.backends.base import Backend, Completion
from harness.bench.schema import ThroughputPoint, ThroughputResult
from harness.bench.stats import summarize

# Small default pairs: a 2-core laptop finishes them in well under a minute.
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = ((64, 128), (512, 128), (1024, 32))

_WORDS = (
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night point "
    "home water room mother area money story fact month lot right study book eye job word business issue "
    "side kind head house service friend father power hour game line end member law car city community name"
).split()
# A counting tail keeps a small model generating instead of stopping at end-of-text.
_COUNT_TAIL = "\nCount: 1, 2, 3, 4, 5, 6, 7, 8,"
# tg<N> starts from a prompt as short as will keep a model counting: llama-bench's tg starts from an
# empty context, and decode slows as the context grows (~5% at 48 tokens vs ~14 here, 2 cores).
_SHORT_COUNT_TAIL = " 1 2 3 4"


@dataclass
class Sample:
    prompt_tokens: int
    generated: int
    ttft_s: float | None
    prefill_tok_s: float | None
    decode_tok_s: float | None


def make_prompt(backend: Backend, n_tokens: int, rng: random.Random, tail: str = _COUNT_TAIL) -> str:
    """Random common words + tail, with as close to n_tokens tokens as the tokenizer allows (never more)."""
    if tail and backend.count_tokens(tail) >= n_tokens // 2:
        tail = ""  # a short prompt keeps its unique random head rather than the tail
    words = [rng.choice(_WORDS) for _ in range(2 * n_tokens + 8)]
    words[0] = f"{rng.choice(_WORDS).capitalize()}{rng.randrange(10**6)}"  # unique first token(s): no cache reuse
    build = lambda k: " ".join(words[:k]) + tail  # noqa: E731
    lo, hi = 0, len(words)
    while lo < hi:  # largest k with count_tokens(build(k)) <= n_tokens
        mid = (lo + hi + 1) // 2
        if backend.count_tokens(build(mid)) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    # Counting tokens evaluates the prompt on servers without a tokenize endpoint (Ollama), which then
    # hold it in their prompt cache and would "prefill" it from there (measured: 25,000 tok/s). Counting
    # an unrelated text last leaves only the BOS token in common.
    backend.count_tokens(f"{rng.choice(_WORDS)}{rng.randrange(10**6)} done")
    return build(lo)


def tg_prompt(rng: random.Random) -> str:
    """~10-15 tokens: a unique first word (no server-side prompt-cache reuse) and a counting tail."""
    return f"{rng.choice(_WORDS).capitalize()}{rng.randrange(1000)}{_SHORT_COUNT_TAIL}"


def _sample(c: Completion) -> Sample:
    t = c.timings
    prefill = t.prefill_tok_s
    if prefill is None and t.ttft_s:
        prefill = c.prompt_tokens / t.ttft_s
    decode = t.decode_tok_s
    if decode is None and t.total_s and t.ttft_s is not None and c.completion_tokens > 1:
        decode = (c.completion_tokens - 1) / max(t.total_s - t.ttft_s, 1e-9)
    return Sample(c.prompt_tokens, c.completion_tokens, t.ttft_s, prefill, decode)


def run_throughput(
    backend: Backend,
    *,
    pp: int = 512,
    tg: int = 128,
    pairs: tuple[tuple[int, int], ...] = DEFAULT_PAIRS,
    repetitions: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> ThroughputResult:
    rng = random.Random(seed)

    def pp_test() -> Completion:  # max_tokens=1: the figure is prompt processing
        return backend.complete(make_prompt(backend, pp, rng, tail=""), max_tokens=1, temperature=0.0, seed=seed)

    def tg_test() -> Completion:
        return backend.complete(tg_prompt(rng), max_tokens=tg, temperature=0.0, seed=seed)

    def pair_test(n_prompt: int, n_gen: int) -> Callable[[], Completion]:
        return lambda: backend.complete(make_prompt(backend, n_prompt, rng), max_tokens=n_gen, temperature=0.0, seed=seed)

    tests = [pp_test, tg_test, *(pair_test(p, g) for p, g in pairs)]
    for _ in range(warmup):
        for test in tests:
            test()
    # Interleaved, round by round: a slow spell of the host spreads over every test's repetitions
    # (and shows in their stddev) instead of shifting one test's mean (measured: pp512 0.83x between
    # two identical runs when its three repetitions ran back to back in one).
    samples: list[list[Sample]] = [[] for _ in tests]
    for _ in range(repetitions):
        for i, test in enumerate(tests):
            samples[i].append(_sample(test()))
    pp_samples, tg_samples, pair_samples = samples[0], samples[1], samples[2:]
    points = [
        ThroughputPoint(
            n_prompt=n_prompt,
            n_gen=n_gen,
            ttft_s=summarize([s.ttft_s for s in ss], "s"),
            prefill_tok_s=summarize([s.prefill_tok_s for s in ss], "tok/s"),
            decode_tok_s=summarize([s.decode_tok_s for s in ss], "tok/s"),
            generated_tokens=summarize([s.generated for s in ss], "tokens"),
        )
        for (n_prompt, n_gen), ss in zip(pairs, pair_samples)
    ]
    return ThroughputResult(
        pp_tokens=pp,
        tg_tokens=tg,
        pp_tok_s=summarize([s.prefill_tok_s for s in pp_samples], "tok/s"),
        tg_tok_s=summarize([s.decode_tok_s for s in tg_samples], "tok/s"),
        tg_generated_tokens=summarize([s.generated for s in tg_samples], "tokens"),
        pairs=points,
    )


def needed_ctx(pp: int, tg: int, pairs: tuple[tuple[int, int], ...]) -> int:
    """Smallest n_ctx (multiple of 256) that holds the longest prompt + generation."""
    need = max([pp + 1, 32 + tg] + [p + g for p, g in pairs]) + 16
    return -(-need // 256) * 256


def parse_pairs(text: str) -> tuple[tuple[int, int], ...]:
    from harness.errors import HarnessError

    try:
        pairs = tuple(tuple(int(x) for x in part.split(":")) for part in text.split(",") if part.strip())
        if not all(len(p) == 2 and p[0] > 0 and p[1] > 0 for p in pairs):
            raise ValueError
        return pairs  # type: ignore[return-value]
    except ValueError:
        raise HarnessError(f"--pairs {text!r} is not a list of PROMPT:GEN pairs", "write e.g. --pairs 64:128,512:128") from None
