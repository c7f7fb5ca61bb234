"""`ollama` backend, through the official `ollama` Python client.

Timings come from Ollama's own response fields (nanoseconds): load_duration, prompt_eval_count /
prompt_eval_duration (prefill), eval_count / eval_duration (decode). TTFT is measured on this side
from the stream; for non-streamed calls it is Ollama's load + prefill time.
Model names: a models.lock name maps to its `ollama` tag (smollm2-135m -> smollm2:135m); any
other name is passed through as an Ollama tag. OLLAMA_HOST is honoured.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import numpy as np
import pydantic

from harness.backends import catalog
from harness.backends.base import BackendInfo, Chunk, Completion, Message, Timings
from harness.backends.http_common import StreamClock, as_matrix, malformed, ollama_tag, transport_error
from harness.errors import BackendError, HarnessError, ModelNotFound

WHAT = "Ollama"
RECORD = catalog.record("ollama")
HOST_ENV, DEFAULT_HOST = str(RECORD.base_url_env), str(RECORD.default_base_url)


def resolve_host(base_url: str | None = None) -> str:
    """--base-url, else OLLAMA_HOST, else Ollama's default; in the client's own URL form."""
    from ollama._client import _parse_host  # the client's parser, so we say the URL it really uses

    return _parse_host(base_url or os.environ.get(HOST_ENV) or DEFAULT_HOST)


def _start_hint(url: str) -> str:
    return f"{RECORD.start_hint}, or point {HOST_ENV} / --base-url at where it runs (now {url})"


def _s(ns: Any) -> float | None:
    return ns / 1e9 if isinstance(ns, (int, float)) and ns > 0 else None


def timings_from(resp: Any, *, total_s: float, ttft_s: float | None = None) -> Timings:
    """Ollama's final response fields -> Timings. total_s is measured here (network included)."""
    load = _s(getattr(resp, "load_duration", None))
    prefill = _s(getattr(resp, "prompt_eval_duration", None))
    decode = _s(getattr(resp, "eval_duration", None))
    n_prompt = getattr(resp, "prompt_eval_count", None) or 0
    n_eval = getattr(resp, "eval_count", None) or 0
    if ttft_s is None and prefill is not None:
        ttft_s = (load or 0.0) + prefill
    return Timings(
        load_s=load or 0.0,
        ttft_s=ttft_s,
        prefill_tok_s=(n_prompt / prefill) if prefill and n_prompt else None,
        decode_tok_s=(n_eval / decode) if decode and n_eval else None,
        total_s=total_s,
    )


class OllamaBackend:
    name = "ollama"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        role: str = "chat",
        n_ctx: int | None = None,
        timeout_s: float = 300.0,
        keep_alive: str | None = None,
    ):
        import ollama

        self._ollama = ollama
        self.host = resolve_host(base_url)
        self.lock_name = model
        self.model = ollama_tag(model)
        self.role = role
        self.n_ctx = n_ctx
        self.keep_alive = keep_alive
        self._client = ollama.Client(host=self.host, timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._show = self._check_model()
        self._version: str | None = None

    # -- errors -----------------------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one client call; every failure becomes a HarnessError that says what to do."""
        try:
            return fn()
        except self._ollama.ResponseError as e:
            raise self._response_error(e) from None
        except (httpx.HTTPError, ConnectionError) as e:
            raise transport_error(e, self.host, what=WHAT, start_hint=_start_hint(self.host)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise malformed(self.host, WHAT, f"not JSON ({e})") from None
        except pydantic.ValidationError as e:
            raise malformed(self.host, WHAT, f"unexpected fields ({str(e).splitlines()[0]})") from None

    def _response_error(self, e: Any) -> HarnessError:
        msg = str(getattr(e, "error", e))
        low = msg.lower()
        if e.status_code == 404 or "not found" in low:
            role = "embedding model" if self.role == "embedding" else "model"
            also = (
                " or embed in-process with --embed-backend llama-cpp (the default)" if self.role == "embedding" else ""
            )
            return ModelNotFound(
                f"Ollama at {self.host} has no {role} {self.model!r} ({msg})",
                hint=f"pull it: `ollama pull {self.model}`{also}",
            )
        if "embedding" in low and "support" in low:
            return BackendError(
                f"model {self.model!r} does not support embeddings ({msg})",
                hint="use an embedding model, e.g. --model minilm-l6-v2 (Ollama tag all-minilm)",
            )
        if e.status_code in (401, 403):
            return BackendError(
                f"Ollama at {self.host} refused the request ({msg})", hint="set OLLAMA_API_KEY if your server needs one"
            )
        return BackendError(
            f"Ollama at {self.host} answered {e.status_code}: {msg}", hint="check the Ollama server's log"
        )

    def _check_model(self) -> Any:
        show = self._call(lambda: self._client.show(self.model))
        caps = getattr(show, "capabilities", None)
        if caps is not None:  # older Ollama versions do not report capabilities
            if self.role == "embedding" and "embedding" not in caps:
                raise BackendError(
                    f"model {self.model!r} does not support embeddings (capabilities: {', '.join(caps)})",
                    hint="use an embedding model, e.g. --model minilm-l6-v2 (Ollama tag all-minilm)",
                )
            if self.role == "chat" and "completion" not in caps:
                raise BackendError(
                    f"model {self.model!r} cannot chat (capabilities: {', '.join(caps)})",
                    hint="use a chat model, e.g. --model smollm2-135m (Ollama tag smollm2:135m)",
                )
        return show

    # -- chat -------------------------------------------------------------------------------

    def _options(
        self, max_tokens: int, temperature: float, seed: int | None, stop: Sequence[str] | None
    ) -> dict[str, Any]:
        # repeat_penalty 1.0: Ollama's default 1.1 changes even greedy output; off, the text is the
        # same as the in-process backend's at temperature 0.
        opts: dict[str, Any] = {"temperature": temperature, "num_predict": max_tokens, "repeat_penalty": 1.0}
        if seed is not None:
            opts["seed"] = seed
        if stop:
            opts["stop"] = list(stop)
        if self.n_ctx:
            opts["num_ctx"] = self.n_ctx
        return opts

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
        t0 = time.perf_counter()
        resp = self._call(
            lambda: self._client.chat(
                model=self.model,
                messages=[dict(m) for m in messages],
                stream=False,
                format=dict(schema) if schema is not None else None,
                options=self._options(max_tokens, temperature, seed, stop),
                keep_alive=self.keep_alive,
            )
        )
        total = time.perf_counter() - t0
        message = getattr(resp, "message", None)
        if message is None or message.content is None:
            raise malformed(self.host, WHAT, "no message.content in the chat answer")
        return Completion(
            text=message.content,
            prompt_tokens=resp.prompt_eval_count or 0,
            completion_tokens=resp.eval_count or 0,
            timings=timings_from(resp, total_s=total),
            finish_reason=_finish(resp.done_reason),
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
        clock = StreamClock()
        parts = self._call(
            lambda: self._client.chat(
                model=self.model,
                messages=[dict(m) for m in messages],
                stream=True,
                format=dict(schema) if schema is not None else None,
                options=self._options(max_tokens, temperature, seed, stop),
                keep_alive=self.keep_alive,
            )
        )
        texts: list[str] = []
        final = None
        it = iter(parts)
        while True:
            part = self._call(lambda: next(it, None))
            if part is None:
                break
            text = part.message.content if part.message is not None else ""
            if text:
                clock.token()
                texts.append(text)
                yield Chunk(text=text)
            if part.done:
                final = part
                break
        if final is None:
            raise BackendError(
                f"Ollama at {self.host} ended the stream before the answer was complete",
                hint="the server probably crashed or was stopped: check `ollama serve`'s log and run again",
            )
        ttft = (clock.first - clock.start) if clock.first is not None else None
        yield Chunk(
            text="",
            done=True,
            completion=Completion(
                text="".join(texts),
                prompt_tokens=final.prompt_eval_count or 0,
                completion_tokens=final.eval_count or 0,
                timings=timings_from(final, total_s=time.perf_counter() - clock.start, ttft_s=ttft),
                finish_reason=_finish(final.done_reason),
            ),
        )

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
    ) -> Completion:
        t0 = time.perf_counter()
        resp = self._call(
            lambda: self._client.generate(
                model=self.model,
                prompt=prompt,
                raw=True,
                stream=False,
                options=self._options(max_tokens, temperature, seed, stop),
                keep_alive=self.keep_alive,
            )
        )
        if resp.response is None:
            raise malformed(self.host, WHAT, "no response text in the generate answer")
        return Completion(
            text=resp.response,
            prompt_tokens=resp.prompt_eval_count or 0,
            completion_tokens=resp.eval_count or 0,
            timings=timings_from(resp, total_s=time.perf_counter() - t0),
            finish_reason=_finish(resp.done_reason),
        )

    # -- embeddings, tokens, info ----------------------------------------------------------

    def embed(self, texts: Sequence[str], *, normalize: bool = True) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        resp = self._call(lambda: self._client.embed(model=self.model, input=texts, keep_alive=self.keep_alive))
        vectors = getattr(resp, "embeddings", None)
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise malformed(self.host, WHAT, f"expected {len(texts)} embeddings, got {type(vectors).__name__}")
        return as_matrix(vectors, normalize, self.host, WHAT)

    def count_tokens(self, text: str) -> int:
        """Ollama has no tokenize endpoint: a raw generate of one token reports the prompt's count."""
        resp = self._call(
            lambda: self._client.generate(
                model=self.model, prompt=text, raw=True, stream=False, options={"num_predict": 1, "temperature": 0}
            )
        )
        if resp.prompt_eval_count is None:
            raise malformed(self.host, WHAT, "no prompt_eval_count in the generate answer")
        return int(resp.prompt_eval_count)

    def version(self) -> str | None:
        if self._version is None:
            try:
                r = self._client._client.get("/api/version")  # the client has no helper for it
                self._version = str(r.json().get("version")) if r.is_success else None
            except (httpx.HTTPError, ValueError, AttributeError):
                self._version = None
        return self._version

    def info(self) -> BackendInfo:
        details = getattr(self._show, "details", None)
        return BackendInfo(
            backend=self.name,
            model=self.model,
            version=self.version(),
            device="unknown",
            device_reason="served by Ollama: it decides the device; see `ollama ps`",
            n_ctx=self.n_ctx,
            # No host name or URL here: result files are meant to be shared.
            extra={
                "lock_name": self.lock_name,
                "family": getattr(details, "family", None),
                "quantization": getattr(details, "quantization_level", None),
                "timings": "Ollama's own (load/prefill/decode); total_s and stream TTFT client-side",
            },
        )

    def close(self) -> None:
        self._client._client.close()


def _finish(reason: str | None) -> str | None:
    return {"stop": "stop", "length": "length"}.get(reason or "", reason)


# -- model management (used by the CLI and the tests) -----------------------------------------


def list_models(base_url: str | None = None) -> list[dict[str, Any]]:
    import ollama

    host = resolve_host(base_url)
    client = ollama.Client(host=host, timeout=httpx.Timeout(30.0, connect=5.0))
    try:
        resp = client.list()
    except ollama.ResponseError as e:
        raise BackendError(
            f"Ollama at {host} answered {e.status_code}: {e.error}", hint="check the Ollama server's log"
        ) from None
    except (httpx.HTTPError, ConnectionError) as e:
        raise transport_error(e, host, what=WHAT, start_hint=_start_hint(host)) from None
    return [
        {"name": m.model, "size": m.size, "digest": m.digest, "family": m.details.family if m.details else None}
        for m in resp.models
    ]


def pull(model: str, *, base_url: str | None = None, console=None) -> str:
    """Pull a model into Ollama with a rich progress bar; returns the tag pulled."""
    import ollama
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    host = resolve_host(base_url)
    tag = ollama_tag(model)
    client = ollama.Client(host=host, timeout=httpx.Timeout(None, connect=5.0))
    console = console or Console(stderr=True)
    tasks: dict[str, Any] = {}
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress:
            status = progress.add_task(f"{tag}: pulling manifest", total=None)
            for ev in client.pull(tag, stream=True):
                if ev.digest and ev.total:
                    if ev.digest not in tasks:
                        tasks[ev.digest] = progress.add_task(f"{tag}: {ev.digest[7:19]}", total=ev.total)
                    progress.update(tasks[ev.digest], completed=ev.completed or 0)
                else:
                    progress.update(status, description=f"{tag}: {ev.status}")
    except ollama.ResponseError as e:
        if "file does not exist" in str(e.error) or e.status_code == 404:
            raise ModelNotFound(
                f"Ollama has no model {tag!r} to pull ({e.error})", hint="check the tag on https://ollama.com/library"
            ) from None
        raise BackendError(
            f"Ollama at {host} could not pull {tag!r}: {e.error}", hint="check the Ollama server's log"
        ) from None
    except (httpx.HTTPError, ConnectionError) as e:
        raise transport_error(e, host, what=WHAT, start_hint=_start_hint(host)) from None
    except (json.JSONDecodeError, ValueError) as e:
        raise malformed(host, WHAT, f"pull progress is not readable ({e})") from None
    return tag


def server_status(base_url: str | None = None) -> dict[str, Any]:
    """For `harness doctor` (the record's status): the URL it uses, is Ollama answering, which
    version, which models."""
    host = resolve_host(base_url)
    try:
        version = httpx.get(f"{host}/api/version", timeout=3.0).json().get("version")
        models = [m["name"] for m in list_models(host)]
        return {"host": host, "reachable": True, "version": version, "models": models}
    except (httpx.HTTPError, ValueError, AttributeError, BackendError) as e:
        return {"host": host, "reachable": False, "error": type(e).__name__, "hint": _start_hint(host)}


def open_ollama(
    model: str,
    *,
    role: str,
    device: str,
    threads: int | None,
    n_ctx: int | None,
    base_url: str | None,
    verbose: bool,
    **kw: Any,
) -> OllamaBackend:
    """The factory of the `ollama` record (harness/backends/catalog.py). device and threads belong
    to the Ollama server; base_url overrides OLLAMA_HOST."""
    return OllamaBackend(model, base_url=base_url, role=role, n_ctx=n_ctx, **kw)
