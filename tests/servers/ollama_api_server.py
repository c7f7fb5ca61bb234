"""A server on 127.0.0.1 that speaks Ollama's documented HTTP API (docs/api.md of the ollama
repository), backed by real llama.cpp (llama_cpp.Llama), so the `ollama` backend can be tested
end to end with real answers and without an Ollama install.

    python tests/servers/ollama_api_server.py --port 11500 \
        --model smollm2:135m=/path/SmolLM2.gguf --pullable all-minilm=/path/minilm.gguf

Endpoints: GET / , GET /api/version, GET /api/tags, GET /api/ps, POST /api/show,
POST /api/pull (streamed NDJSON progress), POST /api/chat, POST /api/generate, POST /api/embed.
Field names follow the documentation: durations in nanoseconds, `done`/`done_reason`,
`prompt_eval_count`/`eval_count`, errors as {"error": "..."} with Ollama's status codes.

`--model TAG=FILE` is present from the start; `--pullable TAG=FILE` must be pulled first
(the pull copies the file into --models-dir with real progress and a sha256 check).
A GGUF whose architecture is `bert` is an embedding model; any other is a chat model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

VERSION = "0.0.0-harness-test"  # honest: this is not a real Ollama build
NDJSON = "application/x-ndjson"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gguf_meta(path: Path) -> dict[str, Any]:
    # the harness's reader: gguf.GGUFReader itself takes 5-20 s on a tiny model's vocabulary
    from harness.models.gguf_check import read_gguf_header

    kv = read_gguf_header(path).kv
    return {key: kv[key] for key in ("general.architecture", "general.name", "general.file_type") if key in kv}


@dataclass
class Entry:
    tag: str
    path: Path
    digest: str
    arch: str
    llm: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def embedding(self) -> bool:
        return self.arch == "bert"

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.arch,
            "families": [self.arch],
            "parameter_size": "",
            "quantization_level": "",
        }

    def listing(self) -> dict[str, Any]:
        return {
            "name": self.tag,
            "model": self.tag,
            "modified_at": _now(),
            "size": self.path.stat().st_size,
            "digest": self.digest,
            "details": self.details(),
        }


def _normalize_tag(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


class State:
    def __init__(self, models_dir: Path, threads: int):
        self.models_dir = models_dir
        self.threads = threads
        self.local: dict[str, Entry] = {}
        self.library: dict[str, Path] = {}
        self.pull_lock = threading.Lock()

    def add_local(self, tag: str, path: Path) -> Entry:
        meta = _gguf_meta(path)
        e = Entry(
            tag=_normalize_tag(tag),
            path=path,
            digest=_sha256(path),
            arch=str(meta.get("general.architecture", "llama")),
        )
        self.local[e.tag] = e
        return e

    def find(self, name: str) -> Entry | None:
        return self.local.get(_normalize_tag(name))

    def load(self, e: Entry) -> float:
        """Load on first use, as Ollama does; returns the load time in seconds (0 if loaded)."""
        if e.llm is not None:
            return 0.0
        import llama_cpp

        from harness.backends.llama_cpp import CHAT_FLASH_ATTN

        t0 = time.perf_counter()
        if e.embedding:
            e.llm = llama_cpp.Llama(
                str(e.path),
                embedding=True,
                n_ctx=256,
                n_batch=256,
                n_ubatch=256,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        else:
            e.llm = llama_cpp.Llama(
                str(e.path),
                n_ctx=2048,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                flash_attn=CHAT_FLASH_ATTN,
                verbose=False,
            )  # as the harness runs chat models
        return time.perf_counter() - t0


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _not_found(name: str) -> JSONResponse:
    return _error(404, f"model '{name}' not found")


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    opts = body.get("options") or {}
    # Ollama's defaults where the request sets nothing (repeat_penalty 1.1 changes even greedy output).
    kw: dict[str, Any] = {
        "temperature": float(opts.get("temperature", 0.8)),
        "repeat_penalty": float(opts.get("repeat_penalty", 1.1)),
        "top_k": int(opts.get("top_k", 40)),
        "top_p": float(opts.get("top_p", 0.9)),
        "min_p": float(opts.get("min_p", 0.0)),
    }
    if opts.get("seed") is not None:
        kw["seed"] = int(opts["seed"])
    n = opts.get("num_predict", -1)
    kw["max_tokens"] = None if n is None or int(n) < 0 else int(n)
    if opts.get("stop"):
        kw["stop"] = list(opts["stop"])
    fmt = body.get("format")
    if fmt == "json":
        kw["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):
        kw["response_format"] = {"type": "json_object", "schema": fmt}
    return kw


class _Counter:
    """A no-op logits processor: llama.cpp calls it once per sampled token, which gives exact
    prompt and generated token counts and the moment prefill ended."""

    def __init__(self) -> None:
        self.calls = 0
        self.prompt_tokens = 0
        self.first: float | None = None

    def __call__(self, input_ids, scores):
        if self.first is None:
            self.first = time.perf_counter()
            self.prompt_tokens = len(input_ids)
        self.calls += 1
        return scores


def _run(
    e: Entry,
    load_s: float,
    pieces: Iterator[tuple[str, str | None]],
    counter: _Counter,
    t0: float,
    make: Any,
    stream: bool,
) -> Any:
    """Drive a llama.cpp generation and answer in Ollama's shape (streamed NDJSON or one object)."""

    def final(finish: str | None, text: str) -> dict[str, Any]:
        end = time.perf_counter()
        first = counter.first or end
        eval_count = max(counter.calls - (1 if finish == "stop" else 0), 0)
        return {
            **make(text if not stream else ""),
            "done": True,
            "done_reason": finish or "stop",
            "total_duration": _ns(load_s + end - t0),
            "load_duration": _ns(load_s),
            "prompt_eval_count": counter.prompt_tokens,
            "prompt_eval_duration": _ns(first - t0),
            "eval_count": eval_count,
            "eval_duration": _ns(end - first),
        }

    if not stream:
        with e.lock:
            parts, finish = [], None
            for text, fin in pieces:
                parts.append(text)
                finish = fin or finish
            return JSONResponse(final(finish, "".join(parts)))

    def gen() -> Iterator[bytes]:
        with e.lock:
            finish = None
            for text, fin in pieces:
                if text:
                    yield (json.dumps({**make(text), "done": False}) + "\n").encode()
                finish = fin or finish
            yield (json.dumps(final(finish, "")) + "\n").encode()

    return StreamingResponse(gen(), media_type=NDJSON)


def create_app(state: State) -> FastAPI:
    app = FastAPI()

    async def body_of(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "invalid JSON body")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        return body

    @app.get("/")
    def root() -> PlainTextResponse:
        return PlainTextResponse("Ollama is running")

    @app.get("/api/version")
    def version() -> dict[str, str]:
        return {"version": VERSION}

    @app.get("/api/tags")
    def tags() -> dict[str, Any]:
        return {"models": [e.listing() for e in state.local.values()]}

    @app.get("/api/ps")
    def ps() -> dict[str, Any]:
        return {
            "models": [
                {**e.listing(), "expires_at": _now(), "size_vram": 0} for e in state.local.values() if e.llm is not None
            ]
        }

    @app.post("/api/show")
    async def show(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        name = body.get("model") or body.get("name") or ""
        e = state.find(name)
        if e is None:
            return _not_found(name)
        return {
            "modelfile": f"FROM {e.path.name}\n",
            "parameters": "",
            "template": "",
            "details": e.details(),
            "model_info": {"general.architecture": e.arch},
            "modified_at": _now(),
            "capabilities": ["embedding"] if e.embedding else ["completion"],
        }

    @app.post("/api/pull")
    async def pull(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        name = _normalize_tag(body.get("model") or body.get("name") or "")
        source = state.library.get(name)
        stream = body.get("stream", True)

        def events() -> Iterator[dict[str, Any]]:
            yield {"status": "pulling manifest"}
            if source is None:
                yield {"error": "pull model manifest: file does not exist"}
                return
            digest = "sha256:" + _sha256(source)
            total = source.stat().st_size
            dst = state.models_dir / digest.replace(":", "-")
            tmp = dst.with_suffix(".partial")
            done = 0
            with state.pull_lock, source.open("rb") as src, tmp.open("wb") as out:
                yield {"status": f"downloading {digest}", "digest": digest, "total": total}
                for block in iter(lambda: src.read(4 << 20), b""):
                    out.write(block)
                    done += len(block)
                    yield {"status": f"downloading {digest}", "digest": digest, "total": total, "completed": done}
            yield {"status": "verifying sha256 digest"}
            if "sha256:" + _sha256(tmp) != digest:
                tmp.unlink()
                yield {"error": "digest mismatch"}
                return
            tmp.replace(dst)
            yield {"status": "writing manifest"}
            state.add_local(name, dst)
            yield {"status": "removing any unused layers"}
            yield {"status": "success"}

        if not stream:
            last: dict[str, Any] = {}
            for ev in events():
                last = ev
                if "error" in ev:
                    return _error(500, ev["error"])
            return last
        return StreamingResponse((json.dumps(ev).encode() + b"\n" for ev in events()), media_type=NDJSON)

    def chat_entry(name: str) -> Entry | JSONResponse:
        e = state.find(name)
        if e is None:
            return _error(404, f'model "{name}" not found, try pulling it first')
        if e.embedding:
            return _error(400, f'"{name}" does not support chat')
        return e

    @app.post("/api/chat")
    async def chat(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        name = body.get("model") or ""
        e = chat_entry(name)
        if isinstance(e, JSONResponse):
            return e
        messages = [
            {"role": m.get("role", "user"), "content": m.get("content", "")} for m in body.get("messages") or []
        ]
        with e.lock:
            load_s = state.load(e)
        if not messages:
            return {
                "model": name,
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done_reason": "load",
                "done": True,
            }
        return _generate(e, name, load_s, body, messages=messages)

    @app.post("/api/generate")
    async def generate(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        name = body.get("model") or ""
        e = chat_entry(name)
        if isinstance(e, JSONResponse):
            return e
        with e.lock:
            load_s = state.load(e)
        prompt = body.get("prompt") or ""
        if not prompt:
            return {"model": name, "created_at": _now(), "response": "", "done": True}
        if body.get("raw"):
            return _generate(e, name, load_s, body, prompt=prompt)
        messages = ([{"role": "system", "content": body["system"]}] if body.get("system") else []) + [
            {"role": "user", "content": prompt}
        ]
        return _generate(e, name, load_s, body, messages=messages, as_generate=True)

    def _generate(
        e: Entry,
        name: str,
        load_s: float,
        body: dict[str, Any],
        *,
        messages=None,
        prompt=None,
        as_generate: bool = False,
    ):
        import llama_cpp

        counter = _Counter()
        kw = _sampling(body)
        t0 = time.perf_counter()
        if prompt is not None:
            kw.pop("response_format", None)  # raw completion: Ollama's JSON mode needs the chat path here
            raw = e.llm.create_completion(
                prompt, stream=True, logits_processor=llama_cpp.LogitsProcessorList([counter]), **kw
            )
            pieces = ((c["choices"][0]["text"], c["choices"][0].get("finish_reason")) for c in raw)
            as_generate = True
        else:
            raw = e.llm.create_chat_completion(
                messages, stream=True, logits_processor=llama_cpp.LogitsProcessorList([counter]), **kw
            )
            pieces = (
                (c["choices"][0]["delta"].get("content") or "", c["choices"][0].get("finish_reason")) for c in raw
            )

        def make(text: str) -> dict[str, Any]:
            if as_generate:
                return {"model": name, "created_at": _now(), "response": text}
            return {"model": name, "created_at": _now(), "message": {"role": "assistant", "content": text}}

        return _run(e, load_s, pieces, counter, t0, make, body.get("stream", True))

    @app.post("/api/embed")
    async def embed(request: Request):
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        name = body.get("model") or ""
        e = state.find(name)
        if e is None:
            return _error(404, f'model "{name}" not found, try pulling it first')
        if not e.embedding:
            return _error(400, f'"{name}" does not support embeddings')
        inputs = body.get("input", "")
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        t0 = time.perf_counter()
        with e.lock:
            load_s = state.load(e)
            n_tokens = sum(len(e.llm.tokenize(t.encode("utf-8"), add_bos=True)) for t in texts)
            vectors = [e.llm.embed(t, normalize=True) for t in texts]  # /api/embed returns unit vectors
        return {
            "model": name,
            "embeddings": vectors,
            "total_duration": _ns(time.perf_counter() - t0 + load_s),
            "load_duration": _ns(load_s),
            "prompt_eval_count": n_tokens,
        }

    return app


def _pairs(values: list[str]) -> list[tuple[str, Path]]:
    out = []
    for v in values:
        tag, _, path = v.partition("=")
        if not path:
            raise SystemExit(f"expected TAG=FILE, got {v!r}")
        out.append((tag, Path(path)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--model", action="append", default=[], help="TAG=FILE present from the start")
    ap.add_argument("--pullable", action="append", default=[], help="TAG=FILE that /api/pull can fetch")
    ap.add_argument("--models-dir", type=Path, default=None, help="where pulls land (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="ollama-test-"))
    models_dir.mkdir(parents=True, exist_ok=True)
    state = State(models_dir, args.threads)
    for tag, path in _pairs(args.model):
        state.add_local(tag, path)
    for tag, path in _pairs(args.pullable):
        state.library[_normalize_tag(tag)] = path
    try:
        uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")
    finally:
        if args.models_dir is None:
            shutil.rmtree(models_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
