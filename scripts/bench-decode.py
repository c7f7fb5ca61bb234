#!/usr/bin/env python3
"""Decode and prefill tok/s: llama.cpp's own llama-bench vs the harness vs a bare llama-cpp-python loop.

    .venv/bin/python scripts/bench-decode.py [--model smollm2-135m] [--threads 2] [--runs 5]
                                             [--max-tokens 128] [--llama-bench PATH] [--embed]

In one run, interleaved round by round (so load from other processes hits every path alike), the
median of N rounds of:
  - llama-bench pp512 / tg128 (built by scripts/llama-bench from the llama.cpp the pinned
    llama-cpp-python vendors; skipped with a note when not built),
  - the harness's throughput benchmark (`harness bench --labs throughput`: pp512 and tg128),
  - a harness streamed completion on the fast path (the default) and on the Llama.generate path,
  - a bare llama-cpp-python streamed create_completion loop (the high-level API).
Same GGUF, threads, temperature 0; each run starts from an empty KV cache.
Streamed decode tok/s = (completion_tokens - 1) / (total - ttft), wall clock. llama.cpp's own counter
(llama_perf_context: n_eval / t_eval, compute only) is printed beside it.

--embed also compares ways of embedding a list of texts (one text per llama_decode, as the
harness does, vs llama-cpp-python's packed Llama.embed(list)).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT = "Once upon a time, in a small village by the sea, there lived"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.llama_build import llama_bench_dir  # noqa: E402

LLAMA_BENCH = llama_bench_dir() / "build/bin/llama-bench"  # where scripts/llama-bench builds it, same flags


def llama_bench_run(
    binary: Path, model_path: Path, threads: int, pp: int, tg: int, flash_attn: bool, repack: bool = True
) -> dict:
    """One repetition of llama-bench's pp<pp> and tg<tg> tests (its default batch sizes). repack: its
    --repack (use_extra_bufts: weight repacking, and the AMX buffer in an AMX build); on by default
    in llama-bench and in the harness, except where the harness's AMX guard turns it off."""
    out = subprocess.run(
        [
            str(binary),
            "-m",
            str(model_path),
            "-t",
            str(threads),
            "-p",
            str(pp),
            "-n",
            str(tg),
            "-r",
            "1",
            "-ngl",
            "0",
            "-fa",
            str(int(flash_attn)),
            "--repack",
            str(int(repack)),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = json.loads(out)
    return {
        "pp": next(r["avg_ts"] for r in rows if r["n_gen"] == 0),
        "tg": next(r["avg_ts"] for r in rows if r["n_prompt"] == 0),
    }


def harness_throughput_run(be, pp: int, tg: int, seed: int) -> dict:
    """One repetition of the harness's own throughput benchmark (what `harness bench` records)."""
    from harness.bench.throughput import run_throughput

    r = run_throughput(be, pp=pp, tg=tg, pairs=(), repetitions=1, warmup=0, seed=seed)
    return {"pp": r.pp_tok_s.mean, "tg": r.tg_tok_s.mean}


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
    return {
        "decode": (max_tokens - 1) / (total - ttft),
        "ttft": ttft,
        "text": "".join(text),
        "perf_decode": p.n_eval / (p.t_eval_ms / 1000) if p.t_eval_ms else None,
    }


def harness_run(be, prompt: str, max_tokens: int, fast: bool = True) -> dict:
    be.fast = fast  # True: the low-level llama_decode loop (the default); False: Llama.generate
    text, completion = [], None
    for chunk in be.stream_complete(prompt, max_tokens=max_tokens, temperature=0.0):
        text.append(chunk.text)
        completion = chunk.completion or completion
    if completion.completion_tokens != max_tokens:
        raise SystemExit(f"harness run stopped early ({completion.finish_reason})")
    perf = be.last_perf
    return {
        "decode": completion.timings.decode_tok_s,
        "ttft": completion.timings.ttft_s,
        "text": "".join(text),
        "perf_decode": perf["n_eval"] / (perf["t_eval_ms"] / 1000) if perf["t_eval_ms"] else None,
    }


def bench_decode(args) -> None:
    from llama_cpp import Llama

    from harness.backends.registry import open_backend
    from harness.bench.throughput import needed_ctx

    n_ctx = max(args.n_ctx, needed_ctx(args.pp, args.max_tokens, ()))
    be = open_backend(
        "llama-cpp",
        args.model,
        device="cpu",
        threads=args.threads,
        n_ctx=n_ctx,
        flash_attn=not args.no_flash_attn,  # as llama-bench runs (llama.cpp's "auto": on)
        prefix_cache=False,
    )  # cold prompts, as llama-bench measures them
    info = be.info()
    bare = Llama(
        str(be.model_path),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_ctx=info.n_ctx,
        n_batch=info.n_batch,
        n_ubatch=info.n_batch,
        n_gpu_layers=0,
        flash_attn=be.flash_attn,
        verbose=False,
    )
    bare.create_completion("warm up", max_tokens=2, temperature=0.0)  # the harness warms up at load too
    lb_bin = Path(args.llama_bench) if args.llama_bench else LLAMA_BENCH
    if not lb_bin.is_file():
        print(
            f"note: no llama-bench at {lb_bin}: build it with scripts/llama-bench (~9 min once); its rows are skipped"
        )
        lb_bin = None
    print(
        f"model {args.model}, threads {args.threads}, n_ctx {info.n_ctx}, n_batch {info.n_batch}, "
        f"flash attention {'on' if be.flash_attn else 'off'} (all paths), pp{args.pp} / tg{args.max_tokens}, {args.runs} interleaved rounds, llama-cpp-python {info.version}, "
        f"device {info.device}"
    )
    harness_throughput_run(be, args.pp, args.max_tokens, seed=99)  # warm-up, as llama-bench and `harness bench` do
    lb, lb_other, tp, h, g, b = [], [], [], [], [], []
    for i in range(args.runs):
        if lb_bin:
            lb.append(
                llama_bench_run(
                    lb_bin, be.model_path, args.threads, args.pp, args.max_tokens, be.flash_attn, repack=be.extra_bufts
                )
            )
            lb_other.append(
                llama_bench_run(
                    lb_bin,
                    be.model_path,
                    args.threads,
                    args.pp,
                    args.max_tokens,
                    be.flash_attn,
                    repack=not be.extra_bufts,
                )
            )
        tp.append(harness_throughput_run(be, args.pp, args.max_tokens, seed=i))
        h.append(harness_run(be, PROMPT, args.max_tokens, fast=True))
        g.append(harness_run(be, PROMPT, args.max_tokens, fast=False))
        b.append(bare_run(bare, PROMPT, args.max_tokens))
        lbs = f"llama-bench tg {lb[-1]['tg']:6.1f} pp {lb[-1]['pp']:7.1f}   " if lb else ""
        print(
            f"  round {i + 1}: {lbs}harness bench tg {tp[-1]['tg']:6.1f} pp {tp[-1]['pp']:7.1f}   "
            f"stream: fast {h[-1]['decode']:6.1f}  Llama.generate {g[-1]['decode']:6.1f}  bare {b[-1]['decode']:6.1f} tok/s",
            flush=True,
        )
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    # Per-round ratios, paired within a round, cancel the slow drifts of a shared host; their median
    # is printed beside the ratio of medians.
    paired = lambda rs, k, ref: statistics.median(r[k] / x[ref] for r, x in zip(rs, lb))  # noqa: E731
    tg_ref = med(lb, "tg") if lb else None
    rows = [
        ("llama-bench (llama.cpp itself)", lb, "tg"),
        ("harness bench throughput (fast path)", tp, "tg"),
        ("harness stream, fast path (default)", h, "decode"),
        ("harness stream, Llama.generate path", g, "decode"),
        ("bare llama-cpp-python stream", b, "decode"),
    ]
    print(f"decode tok/s, tg{args.max_tokens} (median of {args.runs}):")
    for name, rs, k in rows:
        if rs:
            ratio = (
                f"   ratio to llama-bench {med(rs, k) / tg_ref:.3f} (paired {paired(rs, k, 'tg'):.3f})"
                if tg_ref
                else ""
            )
            print(f"  {name:40s} {med(rs, k):8.1f}{ratio}")
    if lb_other:
        print(
            f"  {'llama-bench --repack ' + str(int(not be.extra_bufts)) + ' (the other setting)':40s} "
            f"{med(lb_other, 'tg'):8.1f}   (pp{args.pp} {med(lb_other, 'pp'):.1f}; the harness runs "
            f"--repack {int(be.extra_bufts)}: extra buffer types {'on' if be.extra_bufts else 'off, AMX guard'})"
        )
    pp_ref = med(lb, "pp") if lb else None
    print(f"prefill tok/s, pp{args.pp} (median of {args.runs}):")
    if pp_ref:
        print(f"  {'llama-bench (llama.cpp itself)':40s} {pp_ref:8.1f}")
    ratio = (
        f"   ratio to llama-bench {med(tp, 'pp') / pp_ref:.3f} (paired {paired(tp, 'pp', 'pp'):.3f})" if pp_ref else ""
    )
    print(f"  {'harness bench throughput':40s} {med(tp, 'pp'):8.1f}{ratio}")
    print(
        f"decode tok/s (median, llama.cpp perf counters, compute only): harness fast {med(h, 'perf_decode'):.1f}   "
        f"harness Llama.generate {med(g, 'perf_decode'):.1f}   bare {med(b, 'perf_decode'):.1f}"
    )
    print(
        f"ttft s (median): harness fast {med(h, 'ttft'):.4f}   Llama.generate {med(g, 'ttft'):.4f}   "
        f"bare {med(b, 'ttft'):.4f}"
    )
    same = h[0]["text"] == g[0]["text"] == b[0]["text"]
    print(f"same text on the three streamed paths at temperature 0: {same}")
    be.close()
    bare.close()


def _texts(n: int, long: bool) -> list[str]:
    base = [
        "The patient was treated with aspirin and improved within days",
        "Helicopter transport can impair airway management by flight nurses",
        "Insulin resistance is common in adults with obesity and hypertension",
        "A randomized trial compared two doses of vitamin D in older women",
        "Mortality after hip fracture remains high despite early surgery",
    ]
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
    packed = {
        nb: Llama(
            path, embedding=True, n_threads=1, n_threads_batch=1, n_ctx=nb, n_batch=nb, n_ubatch=nb, verbose=False
        )
        for nb in (512, 128)
    }

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
    ap.add_argument("--pp", type=int, default=512, help="prompt tokens of the prefill test")
    ap.add_argument("--no-flash-attn", action="store_true", help="all paths without flash attention")
    ap.add_argument("--llama-bench", help=f"llama-bench binary (default {LLAMA_BENCH})")
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
