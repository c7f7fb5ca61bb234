"""DSPy on any harness Backend, through DSPy's current LM interface.

DSPy 3.4 deprecates custom LMs built on `BaseLM.forward` (removal planned for 3.5); the
current way is an *engine* - an object with `complete(Request) -> Response` - handed to
`dspy.LM(engine=...)`. `HarnessEngine` is that engine over a harness Backend (llama-cpp,
ollama, openai), so a DSPy program runs unchanged on each of them.

Tiny models (SmolLM2-135M) do not follow ChatAdapter's `[[ ## field ## ]]` format. The
engine therefore declares that it honours JSON schemas: DSPy's JSONAdapter then builds a
schema from the signature's output fields and puts it in `Request.config.response_format`,
and the engine passes it to `Backend.chat(schema=...)`, where llama.cpp turns it into a
grammar. Every call's harness timings are recorded, and a DSPy callback counts parse
failures, so a lab can report both.

`import dspy` costs ~1.7 s: nothing here imports it at module level.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from harness.backends.base import Backend, Completion
from harness.errors import BackendError

# LiteLLM (imported by dspy) fetches a cost map over the network unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_PARAMS = frozenset({"temperature", "max_tokens", "stop", "seed", "response_format"})


def import_dspy():
    """`import dspy` with the environment the harness needs (no network at import)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import dspy

    return dspy


@dataclass
class CallRecord:
    """One engine call: the harness timings and token counts, and whether a schema was sent."""

    prompt_tokens: int
    completion_tokens: int
    timings: dict[str, Any]
    finish_reason: str | None
    schema_sent: bool
    json_valid: bool  # the text parsed as a JSON object (only checked when a schema was sent)


@dataclass
class AdapterStats:
    calls: list[CallRecord] = field(default_factory=list)
    parses: int = 0
    parse_failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / self.parses if self.parses else 0.0

    def summary(self) -> dict[str, Any]:
        totals = [c.timings.get("total_s") for c in self.calls if c.timings.get("total_s") is not None]
        return {
            "calls": len(self.calls),
            "schema_calls": sum(c.schema_sent for c in self.calls),
            "parses": self.parses,
            "parse_failures": self.parse_failures,
            "parse_failure_rate": self.parse_failure_rate,
            "prompt_tokens": sum(c.prompt_tokens for c in self.calls),
            "completion_tokens": sum(c.completion_tokens for c in self.calls),
            "total_s": sum(totals),
        }

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.parses = self.parse_failures = 0


def _schema_from(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema of a canonical response_format, or None (json_object / absent).

    lm15 gives {"type": "json_schema", "schema": {...}} or {"type": "json_object"}."""
    if not response_format:
        return None
    if response_format.get("type") == "json_schema":
        return dict(response_format["schema"])
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    return None


def _text_of(message) -> str:
    text = message.text
    if text is None:
        raise BackendError(
            "a DSPy request carried non-text content (images, tool calls) that harness backends cannot send",
            "use text-only signatures with the harness DSPy adapter",
        )
    return text


def _messages_from(request) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
        out.append({"role": "system", "content": system})
    out.extend({"role": m.role, "content": _text_of(m)} for m in request.messages)
    return out


class HarnessEngine:
    """A DSPy engine (`complete(Request) -> Response`) over a harness Backend.

    DSPy reads `supports_response_schema` and `supported_params` from a custom engine to
    decide whether the JSONAdapter sends a structured-output schema."""

    supports_function_calling = False
    supports_reasoning = False

    def __init__(
        self,
        backend: Backend,
        *,
        model: str,
        constrained: bool = True,
        default_max_tokens: int = 256,
        stats: AdapterStats | None = None,
    ):
        self.backend = backend
        self.model = model
        self.constrained = constrained
        self.default_max_tokens = default_max_tokens
        self.stats = stats or AdapterStats()
        # dspy.Evaluate / optimizers may call from several threads; one in-process model
        # (llama.cpp) serves one request at a time.
        self._call_lock = threading.Lock()

    @property
    def supports_response_schema(self) -> bool:
        return self.constrained

    @property
    def supported_params(self) -> frozenset[str]:
        return _PARAMS if self.constrained else _PARAMS - {"response_format"}

    def complete(self, request):
        from dspy.clients.engines.base import validate_request
        from dspy.lm15 import Message, Response, TextPart, Usage

        validate_request(request)
        cfg = request.config
        schema = _schema_from(cfg.response_format) if self.constrained else None
        with self._call_lock:
            completion: Completion = self.backend.chat(
                _messages_from(request),
                max_tokens=cfg.max_tokens or self.default_max_tokens,
                temperature=0.0 if cfg.temperature is None else cfg.temperature,
                seed=0 if cfg.seed is None else cfg.seed,
                stop=list(cfg.stop) or None,
                schema=schema,
            )
        self._record(completion, schema is not None)
        finish = "length" if completion.finish_reason == "length" else "stop"
        return Response(
            id=None,
            model=request.model,
            message=Message.assistant([TextPart(completion.text)]),
            finish_reason=finish,
            usage=Usage(input_tokens=completion.prompt_tokens, output_tokens=completion.completion_tokens),
        )

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        # The backend is borrowed: whoever opened it closes it.
        pass

    def _record(self, completion: Completion, schema_sent: bool) -> None:
        valid = True
        if schema_sent:
            try:
                valid = isinstance(json.loads(completion.text), dict)
            except ValueError:
                valid = False
        record = CallRecord(
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            timings=completion.timings.to_dict(),
            finish_reason=completion.finish_reason,
            schema_sent=schema_sent,
            json_valid=valid,
        )
        with self.stats._lock:
            self.stats.calls.append(record)


def _parse_counter(stats: AdapterStats):
    """A DSPy callback counting adapter parses and parse failures (AdapterParseError)."""
    from dspy.utils.callback import BaseCallback

    class ParseCounter(BaseCallback):
        def on_adapter_parse_end(self, call_id, outputs, exception=None):
            with stats._lock:
                stats.parses += 1
                if exception is not None:
                    stats.parse_failures += 1

    return ParseCounter()


@dataclass
class HarnessLM:
    """What `dspy_lm()` returns: the dspy.LM, the engine under it and its stats."""

    lm: Any  # dspy.LM
    engine: HarnessEngine
    stats: AdapterStats
    adapter: Any  # the dspy adapter to configure with (JSONAdapter when constrained)
    callbacks: list  # the parse counter; pass them to dspy.configure / dspy.context

    def configure(self) -> None:
        """Make this the LM, adapter and callbacks of every DSPy module (dspy.configure)."""
        dspy = import_dspy()
        dspy.configure(lm=self.lm, adapter=self.adapter, callbacks=list(self.callbacks))


def dspy_lm(
    backend: Backend,
    *,
    model: str | None = None,
    constrained: bool = True,
    max_tokens: int = 256,
    temperature: float = 0.0,
) -> HarnessLM:
    """A dspy.LM over `backend`.

    constrained=True (the default) pairs it with DSPy's JSONAdapter and sends the signature's
    JSON schema to the backend, so even a 135M model returns parseable fields. DSPy's response
    cache is off: each call reaches the model, so timings and parse counts are real."""
    dspy = import_dspy()
    name = model or _model_name(backend)
    stats = AdapterStats()
    engine = HarnessEngine(backend, model=name, constrained=constrained, default_max_tokens=max_tokens, stats=stats)
    lm = dspy.LM(
        f"harness/{name}",
        engine=engine,
        cache=False,
        num_retries=0,
        temperature=temperature,
        max_tokens=max_tokens,
    )
    engine.model = lm.model
    adapter = dspy.JSONAdapter() if constrained else dspy.ChatAdapter(use_json_adapter_fallback=False)
    return HarnessLM(lm=lm, engine=engine, stats=stats, adapter=adapter, callbacks=[_parse_counter(stats)])


def _model_name(backend: Backend) -> str:
    try:
        return backend.info().model
    except Exception:
        return getattr(backend, "name", "backend")
