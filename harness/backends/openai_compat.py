"""`openai` backend: any server speaking the OpenAI HTTP API (llama.cpp's llama-server,
llama-cpp-python's server, LM Studio, vLLM, ...), over plain httpx.

Timings are measured on this side of the wire: TTFT from the first streamed token, decode
speed from the spacing of the streamed tokens. That is the path for users who outgrow one
machine: point --base-url at a vLLM deployment and the labs and benchmarks run unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from harness.backends import catalog
from harness.backends.base import BackendInfo, Chunk, Completion, Message, final_completion
from harness.backends.http_common import StreamClock, as_matrix, malformed, transport_error
from harness.errors import BackendError, BackendUnavailable, ModelNotFound

RECORD = catalog.record("openai")
BASE_URL_ENV = str(RECORD.base_url_env)
# Embeddings often come from another server than chat (vLLM serves one model per server).
EMBED_BASE_URL_ENV = "HARNESS_OPENAI_EMBED_BASE_URL"
API_KEY_ENVS = ("HARNESS_OPENAI_API_KEY", "OPENAI_API_KEY")  # first one set wins
WHAT = "the OpenAI-compatible server"
START_HINT = f"{RECORD.start_hint} or pass the right --base-url / {BASE_URL_ENV}"
KEY_HINT = f"set the API key in {API_KEY_ENVS[0]} (or {API_KEY_ENVS[1]})"
# response_format styles: OpenAI's (vLLM, llama-server, LM Studio) and llama-cpp-python's,
# whose server only knows {"type": "json_object", "schema": ...} and answers 422 to the other.
SCHEMA_MODES = ("json_schema", "json_object")


def resolve_base_url(base_url: str | None, role: str = "chat") -> str:
    url = base_url or (role == "embedding" and os.environ.get(EMBED_BASE_URL_ENV)) or os.environ.get(BASE_URL_ENV)
    if not url:
        raise BackendUnavailable(
            "the openai backend needs the server's base URL",
            hint=f"pass --base-url http://HOST:PORT/v1 or set {BASE_URL_ENV}",
        )
    if not url.startswith(("http://", "https://")):
        raise BackendUnavailable(
            f"base URL {url!r} must start with http:// or https://", hint="e.g. --base-url http://127.0.0.1:8000/v1"
        )
    return url.rstrip("/")


def _response_format(schema: Mapping[str, Any], mode: str) -> dict[str, Any]:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": dict(schema), "strict": True}}
    return {"type": "json_object", "schema": dict(schema)}


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        role: str = "chat",
        timeout_s: float = 300.0,
        schema_mode: str | None = None,
        n_ctx: int | None = None,
    ):
        self.base_url = resolve_base_url(base_url, role)
        self.model = model
        self.role = role
        self.n_ctx = n_ctx
        key = api_key or next((os.environ[k] for k in API_KEY_ENVS if os.environ.get(k)), None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._schema_mode = schema_mode  # None: find out on the first schema call
        self._tokenize_path: str | None = None
        self._send_repeat_penalty = True
        self._added_tokens: int | None = None  # what the server's tokenizer adds to any text (BOS)
        self._server_models = self._check_model()

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _root_url(self, path: str) -> str:
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        return f"{root}/{path.lstrip('/')}"

    def _raise_for_status(self, r: httpx.Response) -> None:
        if r.is_success:
            return
        try:
            body = r.read().decode("utf-8", "replace")
        except httpx.HTTPError:
            body = ""
        detail = body
        try:
            err = json.loads(body)
            if isinstance(err, dict):
                e = err.get("error", err.get("detail", err))
                detail = e.get("message", json.dumps(e)) if isinstance(e, dict) else str(e)
        except json.JSONDecodeError:
            pass
        detail = detail.strip()[:500]
        where = f"{WHAT} at {self.base_url}"
        if r.status_code in (401, 403):
            raise BackendError(
                f"{where} refused the request ({r.status_code}): {detail}",
                hint=KEY_HINT,
            )
        if r.status_code == 404 and "model" in detail.lower():
            raise ModelNotFound(
                f"{where} has no model {self.model!r}: {detail}", hint="pass a model the server serves with --model"
            )
        raise BackendError(
            f"{where} answered {r.status_code} to {r.request.url.path}: {detail}",
            hint="check the request options and the server's log",
        )

    def _post_json(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = self._http.post(url, json=body)
        except httpx.HTTPError as e:
            raise transport_error(e, self.base_url, what=WHAT, start_hint=START_HINT) from None
        self._raise_for_status(r)
        return self._json(r)

    def _json(self, r: httpx.Response) -> dict[str, Any]:
        try:
            data = r.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise malformed(self.base_url, WHAT, f"not JSON (starts with {r.text[:60]!r})") from None
        if not isinstance(data, dict):
            raise malformed(self.base_url, WHAT, f"expected a JSON object, got {type(data).__name__}")
        return data

    def _check_model(self) -> list[str]:
        """GET /models: proves the server is there and serves our model (llama-cpp-python's
        server would otherwise answer any model name with its default model)."""
        try:
            r = self._http.get(self._url("models"))
        except httpx.HTTPError as e:
            raise transport_error(e, self.base_url, what=WHAT, start_hint=START_HINT) from None
        if r.status_code == 404 and not self.base_url.endswith("/v1"):
            raise BackendUnavailable(
                f"{self.base_url}/models does not exist",
                hint=f"OpenAI-compatible servers usually live under /v1: try --base-url {self.base_url}/v1",
            )
        self._raise_for_status(r)
        data = self._json(r)
        try:
            ids = [m["id"] for m in data["data"]]
        except (KeyError, TypeError):
            raise malformed(self.base_url, WHAT, "GET /models has no data[].id list") from None
        if self.model not in ids:
            serves = f"it serves: {', '.join(ids) or 'nothing'}"
            if self.role == "embedding":  # the lab's embedder, not the --model the user chose
                raise ModelNotFound(
                    f"{WHAT} at {self.base_url} does not serve the embedding model {self.model!r}",
                    hint=f"{serves}; embed in-process instead (--embed-backend llama-cpp, the default with a "
                    f"server chat backend), or serve {self.model!r} too (llama-cpp-python: --model_alias "
                    f"{self.model} --embedding true; {EMBED_BASE_URL_ENV} when it is another server)",
                )
            raise ModelNotFound(
                f"{WHAT} at {self.base_url} does not serve a chat model called {self.model!r}",
                hint=f"{serves}; pass one of them with --model (llama-cpp-python: start it with --model_alias NAME)",
            )
        return ids

    def _body(
        self,
        fields: dict[str, Any],
        seed: int | None,
        stop: Sequence[str] | None,
        schema: Mapping[str, Any] | None,
        mode: str,
    ) -> dict[str, Any]:
        """A streamed request: `fields` (model, messages or prompt, limits) plus what every request carries."""
        body: dict[str, Any] = {**fields, "stream": True, "stream_options": {"include_usage": True}}
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = list(stop)
        if schema is not None:
            body["response_format"] = _response_format(schema, mode)
        if self._send_repeat_penalty:
            # llama.cpp servers apply repeat_penalty 1.1 unless told otherwise, which changes even
            # greedy output; 1.0 (off) gives the same text as the in-process backend.
            body["repeat_penalty"] = 1.0
        return body

    def _post_stream(
        self,
        path: str,
        fields: dict[str, Any],
        seed: int | None,
        stop: Sequence[str] | None,
        schema: Mapping[str, Any] | None = None,
    ) -> Iterator[Chunk]:
        for _attempt in range(3):  # at most: switch the schema style once, drop repeat_penalty once
            mode = self._schema_mode or SCHEMA_MODES[0]
            body = self._body(fields, seed, stop, schema, mode)
            clock = StreamClock()
            try:
                with self._http.stream("POST", self._url(path), json=body) as r:
                    if self._adapt_to_rejection(r, schema is not None):
                        continue
                    self._raise_for_status(r)
                    if schema is not None:
                        self._schema_mode = mode
                    yield from self._read_sse(r, clock)
                    return
            except httpx.HTTPError as e:
                raise transport_error(e, self.base_url, what=WHAT, start_hint=START_HINT) from None
        raise BackendError(
            f"{WHAT} at {self.base_url} rejected every form of the request", hint="check the server's log"
        )

    # -- chat -------------------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Completion:
        # Streamed under the hood so TTFT and decode speed are measured on every call.
        return final_completion(
            self.stream(messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop, schema=schema)
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Iterator[Chunk]:
        fields = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        return self._post_stream("chat/completions", fields, seed, stop, schema)

    def _adapt_to_rejection(self, r: httpx.Response, with_schema: bool) -> bool:
        """True when the server refused something this backend can send another way (then retry).
        400/422 from most servers; llama-cpp-python answers its validation errors with 500."""
        if r.status_code not in (400, 422, 500):
            return False
        text = r.read().decode("utf-8", "replace")
        if with_schema and self._schema_mode is None and "response_format" in text:
            self._schema_mode = SCHEMA_MODES[1]  # llama-cpp-python's {"type": "json_object", "schema": ...}
            return True
        if self._send_repeat_penalty and "repeat_penalty" in text:
            self._send_repeat_penalty = False  # a strict server (OpenAI itself) knows no such field
            return True
        return False

    def _read_sse(self, r: httpx.Response, clock: StreamClock) -> Iterator[Chunk]:
        parts: list[str] = []
        n_content = 0
        finish = None
        usage = None
        done = False
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue  # SSE comments, keep-alive pings, event names
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            try:
                event = json.loads(payload)
            except json.JSONDecodeError:
                raise malformed(self.base_url, WHAT, f"a stream event is not JSON: {payload[:80]!r}") from None
            if not isinstance(event, dict):
                raise malformed(self.base_url, WHAT, "a stream event is not a JSON object")
            if "error" in event:
                raise BackendError(
                    f"{WHAT} at {self.base_url} failed mid-stream: {event['error']}", hint="check the server's log"
                )
            if event.get("usage"):
                usage = event["usage"]
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content") if "delta" in choice else choice.get("text")  # chat / completions
                if text:
                    clock.token()
                    n_content += 1
                    parts.append(text)
                    yield Chunk(text=text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if not done and finish is None:
            raise BackendError(
                f"{WHAT} at {self.base_url} ended the stream before the answer was complete",
                hint="the server probably crashed or was stopped: check its log and run again",
            )
        usage = usage or {}
        text = "".join(parts)
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        timings = clock.timings(prompt_tokens, int(usage.get("completion_tokens") or n_content))
        timings.load_s = None  # the server loaded the model; this side cannot tell when or how long
        completion_tokens = usage.get("completion_tokens")
        if completion_tokens is None:
            # No usage in the stream (llama-cpp-python's server), and one event can carry several tokens
            # (" 10" is three for SmolLM2): count the answer with the server's tokenizer, after the clock
            # stopped. Measured: counting events gave 79 of 128 generated tokens.
            completion_tokens = self._answer_tokens(text) if text else 0
            span = (clock.last or 0.0) - (clock.first or 0.0)
            timings.decode_tok_s = (completion_tokens - 1) / span if completion_tokens > 1 and span > 0 else None
        yield Chunk(
            text="",
            done=True,
            completion=Completion(
                text=text,
                prompt_tokens=prompt_tokens,
                completion_tokens=int(completion_tokens),
                timings=timings,
                finish_reason=finish,
            ),
        )

    def _answer_tokens(self, text: str) -> int:
        """Tokens of generated text: the tokenizer's count less what it adds to any input (BOS)."""
        if self._added_tokens is None:
            self._added_tokens = self.count_tokens("")
        return max(self.count_tokens(text) - self._added_tokens, 1)

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
    ) -> Completion:
        # Streamed, as chat is, so TTFT and decode speed are measured; /completions of the server.
        fields = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature}
        completion = final_completion(self._post_stream("completions", fields, seed, stop))
        if not completion.prompt_tokens:
            # No usage in the stream (llama-cpp-python's server): the server's tokenizer counts the
            # raw prompt exactly, after the timed request, so prefill tok/s can still be given.
            completion.prompt_tokens = self.count_tokens(prompt)
            t = completion.timings
            t.prefill_tok_s = completion.prompt_tokens / t.ttft_s if t.ttft_s else None
        return completion

    # -- embeddings, tokens, info ----------------------------------------------------------

    def embed(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        try:
            data = self._post_json(self._url("embeddings"), {"model": self.model, "input": texts})
        except BackendError as e:
            if "embedding" in e.message.lower():
                raise BackendError(
                    f"model {self.model!r} on {self.base_url} does not serve embeddings: {e.message}",
                    hint="use an embedding model (e.g. minilm-l6-v2; llama-cpp-python: start it with --embedding true)",
                ) from None
            raise
        try:
            rows = sorted(data["data"], key=lambda d: d.get("index", 0))
            vectors = [row["embedding"] for row in rows]
        except (KeyError, TypeError, AttributeError):
            raise malformed(self.base_url, WHAT, "no data[].embedding list") from None
        if len(vectors) != len(texts):
            raise malformed(self.base_url, WHAT, f"{len(vectors)} embeddings for {len(texts)} inputs")
        return as_matrix(vectors, normalize, self.base_url, WHAT)

    def count_tokens(self, text: str) -> int:
        """Through the server's tokenizer: llama-cpp-python's /extras/tokenize or llama-server's /tokenize."""
        candidates = [self._tokenize_path] if self._tokenize_path else ["extras/tokenize", "tokenize"]
        for path in candidates:
            body = {"input": text, "model": self.model} if path.startswith("extras") else {"content": text}
            try:
                r = self._http.post(self._root_url(path), json=body)
            except httpx.HTTPError as e:
                raise transport_error(e, self.base_url, what=WHAT, start_hint=START_HINT) from None
            if r.status_code == 404:
                continue
            self._raise_for_status(r)
            tokens = self._json(r).get("tokens")
            if not isinstance(tokens, list):
                raise malformed(self.base_url, WHAT, "tokenize answer has no tokens list")
            self._tokenize_path = path
            return len(tokens)
        raise BackendError(
            f"{WHAT} at {self.base_url} offers no tokenizer endpoint",
            hint="token counts need llama-cpp-python's or llama.cpp's server; other servers only report usage per call",
        )

    def info(self) -> BackendInfo:
        host = urlsplit(self.base_url).hostname or ""
        local = host in ("127.0.0.1", "localhost", "::1")
        return BackendInfo(
            backend=self.name,
            model=self.model,
            device="unknown",
            device_reason="served over HTTP: the server decides the device; this side cannot see it",
            n_ctx=self.n_ctx,
            # No URL or host name here: result files are meant to be shared.
            extra={
                "server": "local" if local else "remote",
                "schema_mode": self._schema_mode,
                "timings": "client-side (network included)",
            },
        )

    def close(self) -> None:
        self._http.close()


def server_status(base_url: str | None = None) -> dict[str, Any]:
    """For `harness doctor` (the record's status): is an OpenAI-compatible server configured and
    answering, and what it serves."""
    url = base_url or os.environ.get(BASE_URL_ENV)
    if not url:
        return {
            "configured": False,
            "reachable": False,
            "hint": f"set {BASE_URL_ENV} or pass --base-url to use --backend openai",
        }
    url = url.rstrip("/")
    shown = httpx.URL(url).copy_with(userinfo=b"")  # never echo credentials embedded in the URL
    key = next((os.environ[k] for k in API_KEY_ENVS if os.environ.get(k)), None)
    try:
        r = httpx.get(f"{url}/models", timeout=3.0, headers={"Authorization": f"Bearer {key}"} if key else {})
        ids = [m.get("id") for m in r.json().get("data", [])] if r.is_success else []
        status = {
            "configured": True,
            "base_url": str(shown),
            "reachable": True,
            "status_code": r.status_code,
            "models": ids,
        }
        return status | ({"hint": KEY_HINT} if r.status_code in (401, 403) else {})
    except (httpx.HTTPError, ValueError, AttributeError) as e:
        return {
            "configured": True,
            "base_url": str(shown),
            "reachable": False,
            "error": type(e).__name__,
            "hint": START_HINT,
        }


def open_openai(
    model: str,
    *,
    role: str,
    device: str,
    threads: int | None,
    n_ctx: int | None,
    base_url: str | None,
    verbose: bool,
    **kw: Any,
) -> OpenAIBackend:
    """The factory of the `openai` record (harness/backends/catalog.py). device and threads belong
    to the server; it decides them."""
    return OpenAIBackend(model, base_url=base_url, role=role, n_ctx=n_ctx, **kw)
