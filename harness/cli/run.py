"""`harness run MODEL "prompt"`: stream a reply, then timings like `ollama run --verbose`."""

from __future__ import annotations

import sys
from typing import Any

import typer

from harness.cli.common import BackendOpt, BaseUrlOpt, DeviceOpt, JsonOpt, SeedOpt, ThreadsOpt, emit_json, err_console


def timing_lines(completion, info) -> list[tuple[str, str]]:
    """(label, value) rows of the timing block; pure, so it is tested without a model."""
    t = completion.timings

    def sec(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}s"

    def rate(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f} tokens/s"

    rows = [
        ("load duration", sec(t.load_s)),
        ("prompt eval count", f"{completion.prompt_tokens} token(s)"),
        ("prompt eval rate", rate(t.prefill_tok_s)),
        ("time to first token", sec(t.ttft_s)),
        ("eval count", f"{completion.completion_tokens} token(s)"),
        ("eval rate", rate(t.decode_tok_s)),
        ("total duration", sec(t.total_s)),
    ]
    if info is not None:
        rows.append(("device", f"{info.device} ({info.device_reason})" if info.device_reason else info.device))
        if info.threads:
            rows.append(("threads", str(info.threads)))
    return rows


def run_result(completion, info, *, model: str, backend: str) -> dict[str, Any]:
    """The --json object: text, token counts, timings and where it ran. No paths."""
    d = completion.to_dict()
    d = {"model": model, "backend": backend, **d}
    d["decode_tok_s"] = completion.timings.decode_tok_s  # the headline figure, also at top level
    if info is not None:
        d["info"] = {
            k: getattr(info, k)
            for k in (
                "version",
                "device",
                "device_reason",
                "gpu_offload_supported",
                "n_gpu_layers",
                "n_layers",
                "threads",
                "n_ctx",
            )
        }
        d["info"]["generation_path"] = info.extra.get("generation_path")
        d["info"]["peak_vram_bytes"] = info.extra.get("peak_vram_bytes")
    return d


def run_cmd(
    model: str = typer.Argument(..., help="Model name from models.lock (or a path to a .gguf file)."),
    prompt: str = typer.Argument(..., help="The user message."),
    max_tokens: int = typer.Option(256, "--max-tokens", "-n", min=1, help="Most tokens to generate."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0, help="0 = greedy."),
    seed: int = SeedOpt,
    threads: int | None = ThreadsOpt,
    device: str = DeviceOpt,
    system: str | None = typer.Option(None, "--system", help="A system message."),
    backend: str = BackendOpt,
    n_ctx: int | None = typer.Option(None, "--n-ctx", min=16, help="Context size (default: 4096 or the model's)."),
    base_url: str | None = BaseUrlOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Generate a reply with timings (load, prefill, time to first token, decode)."""
    from harness.backends.registry import open_backend

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    be = open_backend(backend, model, role="chat", device=device, threads=threads, n_ctx=n_ctx, base_url=base_url)
    try:
        kw: dict[str, Any] = dict(max_tokens=max_tokens, temperature=temperature, seed=seed)
        if as_json:
            completion = be.chat(messages, **kw)
        else:
            completion = None
            for chunk in be.stream(messages, **kw):
                if chunk.text:
                    sys.stdout.write(chunk.text)
                    sys.stdout.flush()
                if chunk.done:
                    completion = chunk.completion
            sys.stdout.write("\n")
            sys.stdout.flush()
        info = be.info()
    finally:
        be.close()
    if as_json:
        emit_json(run_result(completion, info, model=info.model, backend=backend))  # info.model: never a path
        return
    # The timing block goes to stderr, so stdout stays the reply alone (pipe-friendly). It starts
    # with an empty line: where stdout and stderr are captured apart and shown one after the other
    # (CI logs, subprocess output), the reply's last line and "load duration" stay apart.
    err_console.print()
    width = max(len(k) for k, _ in timing_lines(completion, info)) + 2
    for label, value in timing_lines(completion, info):
        err_console.print(f"{label + ':':<{width}}{value}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
