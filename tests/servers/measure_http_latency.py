"""What HTTP adds: the same chat prompts at temperature 0 through llama-cpp (in process),
openai (llama-cpp-python's server) and ollama (tests/servers/ollama_api_server.py), interleaved
prompt by prompt, same model file, same thread count. Prints per-backend latency, the HTTP
overhead on the ollama path (client wall time minus the server's own reported time), and whether
the texts are identical. A measurement, not a test:

    .venv/bin/python tests/servers/measure_http_latency.py --threads 1 --reps 2 --max-tokens 32 --dump
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_proc import free_port, running  # noqa: E402

PROMPTS = [
    "Name three colors.",
    "What is the capital of France?",
    "Give one synonym for happy.",
    "What is 2 + 2?",
    "Name a planet in the solar system.",
    "Say hello in Spanish.",
    "What do bees make?",
    "Name a fruit that is yellow.",
]


def _call(backend, messages, max_tokens: int) -> dict:
    c = backend.chat(messages, max_tokens=max_tokens, temperature=0.0, seed=0)
    t = c.timings
    rec = {"total_s": t.total_s, "ttft_s": t.ttft_s, "tokens": c.completion_tokens, "text": c.text}
    if backend.name == "ollama" and t.decode_tok_s and t.ttft_s is not None:
        # Ollama's own time for the call (load + prefill + decode): the rest is HTTP and the client.
        rec["server_s"] = t.ttft_s + c.completion_tokens / t.decode_tok_s
    return rec


def run_interleaved(backends: dict, reps: int, max_tokens: int) -> dict:
    """Prompt by prompt, each backend in turn, so load drift on a shared machine hits all alike."""
    msgs = [[{"role": "user", "content": p}] for p in PROMPTS]
    for b in backends.values():
        b.chat(msgs[0], max_tokens=max_tokens)  # warm-up: model load, caches
    recs: dict[str, list] = {name: [] for name in backends}
    for _ in range(reps):
        for m in msgs:
            for name, b in backends.items():
                recs[name].append(_call(b, m, max_tokens))
    return recs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--dump", action="store_true", help="print every text")
    args = ap.parse_args()

    from harness.backends.registry import open_backend
    from harness.models.store import resolve_model_path

    gguf = resolve_model_path("smollm2-135m")
    tmp = Path(tempfile.mkdtemp(prefix="http-latency-"))
    oa_port, ol_port = free_port(), free_port()
    cfg = tmp / "cfg.json"
    cfg.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": oa_port,
                "models": [
                    {
                        "model": str(gguf),
                        "model_alias": "smollm2-135m",
                        "n_threads": args.threads,
                        "n_threads_batch": args.threads,
                        "n_ctx": 4096,
                        "flash_attn": True,
                        "verbose": False,
                    }
                ],
            }
        )
    )
    with (
        running(
            ["-m", "llama_cpp.server", "--config_file", str(cfg)],
            f"http://127.0.0.1:{oa_port}/v1/models",
            tmp / "openai.log",
        ),
        running(
            [
                str(Path(__file__).resolve().parent / "ollama_api_server.py"),
                "--port",
                str(ol_port),
                "--threads",
                str(args.threads),
                "--model",
                f"smollm2:135m={gguf}",
            ],
            f"http://127.0.0.1:{ol_port}/api/version",
            tmp / "ollama.log",
        ),
    ):
        backends = {
            "llama-cpp": open_backend("llama-cpp", "smollm2-135m", threads=args.threads),
            "openai": open_backend("openai", "smollm2-135m", base_url=f"http://127.0.0.1:{oa_port}/v1"),
            "ollama": open_backend("ollama", "smollm2-135m", base_url=f"http://127.0.0.1:{ol_port}"),
        }
        try:
            recs = run_interleaved(backends, args.reps, args.max_tokens)
        finally:
            for b in backends.values():
                b.close()
    shutil.rmtree(tmp, ignore_errors=True)

    base = recs["llama-cpp"]
    med = statistics.median
    summary = {}
    for name, rs in recs.items():
        same = [a["text"] == b["text"] for a, b in zip(rs, base)]
        row = {
            "median_total_s": round(med(r["total_s"] for r in rs), 4),
            "median_ms_per_token": round(med(1000 * r["total_s"] / max(r["tokens"], 1) for r in rs), 2),
            "median_added_ms_same_text": round(
                med([1000 * (a["total_s"] - b["total_s"]) for a, b, ok in zip(rs, base, same) if ok] or [0.0]), 1
            ),
            "identical_texts": sum(same),
            "calls": len(rs),
            "first_divergence_chars": [
                len(os.path.commonprefix([a["text"], b["text"]])) for a, b, ok in zip(rs, base, same) if not ok
            ][:8],
        }
        if name == "ollama":
            row["median_http_overhead_ms"] = round(
                med(1000 * (r["total_s"] - r["server_s"]) for r in rs if "server_s" in r), 2
            )
        summary[name] = row
    print(json.dumps(summary, indent=2))
    if args.dump:
        for i, p in enumerate(PROMPTS):
            print(f"--- {p}")
            for name, rs in recs.items():
                print(f"  {name:9}: {rs[i]['text']!r}")


if __name__ == "__main__":
    main()
