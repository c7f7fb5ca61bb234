"""The `throughput` pseudo-lab: llama-bench-comparable speed through the Backend protocol.

pp<N>: prefill of an N-token prompt (tok/s), tg<N>: N generated tokens (tok/s), each as mean ± stddev
over repetitions after warm-up, like llama-bench. Plus LocalScore-like (prompt, generation) pairs with
time to first token. Every prompt starts with a different word, so no run reuses another's KV cache.

Depths: generation after D tokens already in the KV cache (llama-bench -d), streamed, with every
token's time taken as it arrives. From those come decode tok/s by depth and the inter-token latency
(ITL) tail, which llama.cpp's maintainers asked to get from per-token times rather than from new
llama-bench columns (llama.cpp PR 15643). tg<N> stays unstreamed, as llama-bench measures it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.backends.base import Backend, Completion
from harness.bench.energy import EnergyMeter, not_available_note
from harness.bench.schema import DepthPoint, Energy, ThroughputPoint, ThroughputResult, TokenTrace
from harness.bench.stats import quantiles, summarize

# Small default pairs: a 2-core laptop finishes them in well under a minute.
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = ((64, 128), (512, 128), (1024, 32))
# Depth 0 only by default (a second each); a sweep such as 0,512,1024,2048,4096 prefills 7,680 tokens
# per repetition, ~45 s on 2 laptop cores.
DEFAULT_DEPTHS: tuple[int, ...] = (0,)
DEFAULT_DEPTH_GEN = 32

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


@dataclass
class Streamed:
    completion: Completion
    token_s: list[float] = field(default_factory=list)  # each streamed piece's arrival, from the request

    @property
    def decode_tok_s(self) -> float | None:
        t = self.token_s
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else None

    @property
    def gaps_ms(self) -> list[float]:
        return [(b - a) * 1000 for a, b in zip(self.token_s, self.token_s[1:])]


def stream_timed(backend: Backend, prompt: str, n_gen: int, seed: int) -> Streamed:
    """A raw-prompt stream where the backend has one (llama.cpp), else a chat stream (servers).
    One piece per token, except where a multi-byte character or a possible stop string held one back."""
    kw: dict[str, Any] = {"max_tokens": n_gen, "temperature": 0.0, "seed": seed}
    t0 = time.perf_counter()
    raw = getattr(backend, "stream_complete", None)
    chunks = raw(prompt, **kw) if raw else backend.stream([{"role": "user", "content": prompt}], **kw)
    times, completion = [], None
    for chunk in chunks:
        if chunk.text:
            times.append(time.perf_counter() - t0)
        if chunk.done:
            completion = chunk.completion
    if completion is None:
        raise RuntimeError("the stream ended without a final chunk")
    return Streamed(completion, times)


def _depth_point(depth: int, n_gen: int, runs: list[Streamed]) -> DepthPoint:
    return DepthPoint(
        depth=depth,
        n_gen=n_gen,
        prompt_tokens=summarize([r.completion.prompt_tokens for r in runs], "tokens"),
        decode_tok_s=summarize([r.decode_tok_s for r in runs], "tok/s"),
        itl_ms=quantiles([g for r in runs for g in r.gaps_ms], "ms"),
        generated_tokens=summarize([r.completion.completion_tokens for r in runs], "tokens"),
    )


@dataclass
class _EnergyTally:
    joules: float = 0.0
    tokens: int = 0
    seconds: float = 0.0

    def per_token(self) -> float | None:
        return self.joules / self.tokens if self.tokens and self.joules > 0 else None


def _energy(meter: EnergyMeter | None, pp: _EnergyTally, tg: _EnergyTally) -> Energy | None:
    if meter is None:
        return None
    if not meter.sources:
        return Energy(note=not_available_note(meter))
    return Energy(
        sources=meter.sources,
        pp_j_per_token=pp.per_token(),
        tg_j_per_token=tg.per_token(),
        tg_tok_per_s_per_w=tg.tokens / tg.joules if tg.joules > 0 else None,
        tg_mean_w=tg.joules / tg.seconds if tg.seconds > 0 and tg.joules > 0 else None,
        note="; ".join(meter.notes) or None,
    )


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
    depths: tuple[int, ...] = DEFAULT_DEPTHS,
    depth_gen: int = DEFAULT_DEPTH_GEN,
    trace: bool = False,
    energy: EnergyMeter | None = None,
) -> ThroughputResult:
    rng = random.Random(seed)
    tallies = {0: _EnergyTally(), 1: _EnergyTally()}  # pp and tg: the counters are read around each call

    def measured(i: int, test: Callable[[], Completion]) -> Completion:
        if energy is None or not energy.sources or i not in tallies:
            return test()
        started, t0 = energy.start(), time.perf_counter()
        c = test()
        tally = tallies[i]
        tally.seconds += time.perf_counter() - t0
        tally.joules += energy.stop(started)
        tally.tokens += c.prompt_tokens if i == 0 else c.completion_tokens
        return c

    def pp_test() -> Completion:  # max_tokens=1: the figure is prompt processing
        return backend.complete(make_prompt(backend, pp, rng, tail=""), max_tokens=1, temperature=0.0, seed=seed)

    def tg_test() -> Completion:
        return backend.complete(tg_prompt(rng), max_tokens=tg, temperature=0.0, seed=seed)

    def pair_test(n_prompt: int, n_gen: int) -> Callable[[], Completion]:
        return lambda: backend.complete(
            make_prompt(backend, n_prompt, rng), max_tokens=n_gen, temperature=0.0, seed=seed
        )

    def depth_test(depth: int) -> Callable[[], Streamed]:
        return lambda: stream_timed(
            backend, tg_prompt(rng) if depth == 0 else make_prompt(backend, depth, rng), depth_gen, seed
        )

    tests = [pp_test, tg_test, *(pair_test(p, g) for p, g in pairs)]
    streamed_tests = [depth_test(d) for d in depths]
    for _ in range(warmup):
        for test in [*tests, *streamed_tests]:
            test()
    # Interleaved, round by round: a slow spell of the host spreads over every test's repetitions
    # (and shows in their stddev) instead of shifting one test's mean (measured: pp512 0.83x between
    # two identical runs when its three repetitions ran back to back in one).
    samples: list[list[Sample]] = [[] for _ in tests]
    streamed: list[list[Streamed]] = [[] for _ in streamed_tests]
    for _ in range(repetitions):
        for i, test in enumerate(tests):
            samples[i].append(_sample(measured(i, test)))
        for i, stest in enumerate(streamed_tests):
            streamed[i].append(stest())
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
        depths=[_depth_point(d, depth_gen, runs) for d, runs in zip(depths, streamed)],
        trace=[
            TokenTrace(depth=d, repetition=i, token_ms=[round(t * 1000, 3) for t in r.token_s])
            for d, runs in zip(depths, streamed)
            for i, r in enumerate(runs)
        ]
        if trace
        else None,
        energy=_energy(energy, tallies[0], tallies[1]),
    )


def needed_ctx(
    pp: int,
    tg: int,
    pairs: tuple[tuple[int, int], ...],
    depths: tuple[int, ...] = (),
    depth_gen: int = DEFAULT_DEPTH_GEN,
) -> int:
    """Smallest n_ctx (multiple of 256) that holds the longest prompt + generation."""
    need = max([pp + 1, 32 + tg] + [p + g for p, g in pairs] + [d + 32 + depth_gen for d in depths]) + 16
    return -(-need // 256) * 256


def parse_depths(text: str) -> tuple[int, ...]:
    from harness.errors import HarnessError

    try:
        depths = tuple(dict.fromkeys(int(x) for x in text.split(",") if x.strip()))
        if not depths or any(d < 0 for d in depths):
            raise ValueError
        return depths
    except ValueError:
        raise HarnessError(
            f"--depths {text!r} is not a list of token counts >= 0", "write e.g. --depths 0,512,1024,2048,4096"
        ) from None


def parse_pairs(text: str) -> tuple[tuple[int, int], ...]:
    from harness.errors import HarnessError

    try:
        pairs = tuple(tuple(int(x) for x in part.split(":")) for part in text.split(",") if part.strip())
        if not all(len(p) == 2 and p[0] > 0 and p[1] > 0 for p in pairs):
            raise ValueError
        return pairs  # type: ignore[return-value]
    except ValueError:
        raise HarnessError(
            f"--pairs {text!r} is not a list of PROMPT:GEN pairs", "write e.g. --pairs 64:128,512:128"
        ) from None
