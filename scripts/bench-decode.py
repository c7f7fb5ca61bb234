#!/usr/bin/env python3
"""Decode tok/s through the harness vs a bare llama-cpp-python loop, same model and settings.

    .venv/bin/python scripts/bench-decode.py [--model smollm2-135m] [--threads 2] [--runs 5]
                                             [--max-tokens 128] [--embed]

Both sides: the same GGUF, prompt, threads, n_ctx, n_batch, temperature 0, max tokens; each run
starts from an empty KV cache; runs are interleaved (harness, bare, harness, bare, ...) so that
load from other processes hits both alike; the median of N runs is reported.
decode tok/s = (completion_tokens - 1) / (total - ttft), wall clock, for both sides. llama.cpp's own
counter (llama_perf_context: n_eval / t_eval, compute only) is printed beside it.

--embed also compares ways of embedding a list of texts (one text per llama_decode, as the
harness does, vs llama-cpp-python's packed Llama.embed(list)).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT = "Once upon a time, in a small village by the sea, there lived"


def bare_run(llm, prompt: str, max_tokens: int) -> dict:
    import llama_cpp

    llm.reset()  # empty KV cache, as the harness does
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    t0 = time.perf_counter()
    ttft, text, finish = None, [], None
    for chunk in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
        if ttft is None:
            ttft = time.perf_counter() - t0
        text.append(chunk["choices"][0]["text"])
        finish = chunk["choices"][0]["finish_reason"] or finish
    total = time.perf_counter() - t0
    if finish != "length":
        raise SystemExit(f"bare run stopped early ({finish}): pick a prompt that runs to --max-tokens")
    p = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return {"decode": (max_tokens - 1) / (total - ttft), "ttft": ttft, "text": "".join(text),
            "perf_decode": p.n_eval / (p.t_eval_ms / 1000) if p.t_eval_ms else None}


def harness_run(be, prompt: str, max_tokens: int, fast: bool = True) -> dict:
    be.fast = fast  # True: the low-level llama_decode loop (the default); False: Llama.generate
    text, completion = [], None
    for chunk in be.stream_complete(prompt, max_tokens=max_tokens, temperature=0.0):
        text.append(chunk.text)
        completion = chunk.completion or completion
    if completion.completion_tokens != max_tokens:
        raise SystemExit(f"harness run stopped early ({completion.finish_reason})")
    perf = be.last_perf
    return {"decode": completion.timings.decode_tok_s, "ttft": completion.timings.ttft_s, "text": "".join(text),
            "perf_decode": perf["n_eval"] / (perf["t_eval_ms"] / 1000) if perf["t_eval_ms"] else None}


def bench_decode(args) -> None:
    from llama_cpp import Llama

    from harness.backends.registry import open_backend

    be = open_backend("llama-cpp", args.model, device="cpu", threads=args.threads, n_ctx=args.n_ctx)
    info = be.info()
    bare = Llama(str(be.model_path), n_threads=args.threads, n_threads_batch=args.threads, n_ctx=info.n_ctx,
                 n_batch=info.n_batch, n_ubatch=info.n_batch, n_gpu_layers=0, verbose=False)
    bare.create_completion("warm up", max_tokens=2, temperature=0.0)  # the harness warms up at load too
    print(f"model {args.model}, threads {args.threads}, n_ctx {info.n_ctx}, max tokens {args.max_tokens}, "
          f"{args.runs} interleaved runs each, llama-cpp-python {info.version}, device {info.device}")
    h, g, b = [], [], []
    for i in range(args.runs):
        h.append(harness_run(be, PROMPT, args.max_tokens, fast=True))
        g.append(harness_run(be, PROMPT, args.max_tokens, fast=False))
        b.append(bare_run(bare, PROMPT, args.max_tokens))
        print(f"  run {i + 1}: harness fast {h[-1]['decode']:7.1f}   harness Llama.generate {g[-1]['decode']:7.1f}   "
              f"bare {b[-1]['decode']:7.1f} tok/s", flush=True)
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    hm, gm, bm = med(h, "decode"), med(g, "decode"), med(b, "decode")
    print("decode tok/s (median, wall clock):")
    print(f"  harness (fast path, default)   {hm:8.1f}   ratio to bare {hm / bm:.3f}")
    print(f"  harness (Llama.generate path)  {gm:8.1f}   ratio to bare {gm / bm:.3f}")
    print(f"  bare llama-cpp-python stream   {bm:8.1f}")
    print(f"decode tok/s (median, llama.cpp perf counters, compute only): harness fast {med(h, 'perf_decode'):.1f}   "
          f"harness Llama.generate {med(g, 'perf_decode'):.1f}   bare {med(b, 'perf_decode'):.1f}")
    print(f"ttft s (median): harness fast {med(h, 'ttft'):.4f}   Llama.generate {med(g, 'ttft'):.4f}   "
          f"bare {med(b, 'ttft'):.4f}")
    same = h[0]["text"] == g[0]["text"] == b[0]["text"]
    print(f"same text on all three paths at temperature 0: {same}")
    be.close()
    bare.close()


def _texts(n: int, long: bool) -> list[str]:
    base = ["The patient was treated with aspirin and improved within days",
            "Helicopter transport can impair airway management by flight nurses",
            "Insulin resistance is common in adults with obesity and hypertension",
            "A randomized trial compared two doses of vitamin D in older women",
            "Mortality after hip fracture remains high despite early surgery"]
    out = []
    for i in range(n):
        s = f"{base[i % len(base)]} (case {i})."
        out.append(" ".join([s] * (4 if long else 1)))
    return out


def bench_embed(args) -> None:
    import numpy as np
    from llama_cpp import Llama

    from harness.backends.registry import open_backend

    be = open_backend("llama-cpp", args.embed_model, role="embedding", device="cpu", threads=1)
    path = str(be.model_path)
    print(f"\nembeddings: {args.embed_model}, 1 thread, {args.embed_n} texts per measurement (median of 3)")
    packed = {nb: Llama(path, embedding=True, n_threads=1, n_threads_batch=1, n_ctx=nb, n_batch=nb, n_ubatch=nb,
                        verbose=False) for nb in (512, 128)}

    def rate(fn, texts) -> float:
        fn(texts[:2])
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn(texts)
            times.append(time.perf_counter() - t0)
        return len(texts) / statistics.median(times)

    for long in (False, True):
        texts = _texts(args.embed_n, long)
        ntok = statistics.median(len(packed[512].tokenize(t.encode())) for t in texts)
        rows = {
            "harness embed(list): one text per decode": rate(be.embed, texts),
            "Llama.embed(list), n_batch 512 (packs ~512 tokens per decode)": rate(packed[512].embed, texts),
            "Llama.embed(list), n_batch 128": rate(packed[128].embed, texts),
            "loop of Llama.embed(text), n_batch 512": rate(lambda ts: [packed[512].embed(t) for t in ts], texts),
        }
        print(f"  texts of ~{ntok:.0f} tokens:")
        for k, v in rows.items():
            print(f"    {v:7.1f} texts/s  {k}")
        a = be.embed(texts[:4])
        ref = np.array(packed[512].embed(texts[:4], normalize=True), dtype=np.float32)
        print(f"    max |harness - packed| = {np.abs(a - ref).max():.2e}")
    be.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--n-ctx", type=int, default=1024)
    ap.add_argument("--embed", action="store_true", help="also compare embedding batch strategies")
    ap.add_argument("--embed-model", default="minilm-l6-v2")
    ap.add_argument("--embed-n", type=int, default=32)
    ap.add_argument("--no-decode", action="store_true")
    args = ap.parse_args()
    if not args.no_decode:
        bench_decode(args)
    if args.embed:
        bench_embed(args)


if __name__ == "__main__":
    sys.exit(main())
