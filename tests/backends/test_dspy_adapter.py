"""The DSPy adapter: DSPy's engine interface over a harness Backend.

Fast tests use a recording backend (no model) to check what the engine sends and records;
the slow test runs a DSPy Predict program on the real tiny model over llama.cpp."""

from __future__ import annotations

from typing import Literal

import pytest

from harness.backends.base import BackendInfo, Completion, Timings
from harness.backends.dspy_adapter import dspy_lm, import_dspy


class RecordingBackend:
    """Answers every schema call with a fixed JSON object, and keeps what it was asked."""

    name = "recording"

    def __init__(self, reply: str = '{"answer": "no"}'):
        self.reply = reply
        self.calls: list[dict] = []

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, stop=None, schema=None):
        self.calls.append(
            {"messages": list(messages), "max_tokens": max_tokens, "temperature": temperature, "schema": schema}
        )
        return Completion(
            text=self.reply,
            prompt_tokens=12,
            completion_tokens=5,
            timings=Timings(ttft_s=0.01, decode_tok_s=100.0, total_s=0.05),
            finish_reason="stop",
        )

    def info(self):
        return BackendInfo(backend="recording", model="tiny")


def _signature(dspy):
    class YesNo(dspy.Signature):
        """Answer the question with yes, no or maybe."""

        question: str = dspy.InputField()
        answer: Literal["yes", "no", "maybe"] = dspy.OutputField()

    return YesNo


def test_engine_sends_the_signature_schema_and_records_timings():
    dspy = import_dspy()
    backend = RecordingBackend()
    h = dspy_lm(backend, max_tokens=20)
    with dspy.context(lm=h.lm, adapter=h.adapter, callbacks=[*h.callbacks]):
        pred = dspy.Predict(_signature(dspy))(question="Is water wet?")
    assert pred.answer == "no"
    schema = backend.calls[0]["schema"]
    assert schema["properties"]["answer"]["enum"] == ["yes", "no", "maybe"]
    assert schema["required"] == ["answer"]
    assert backend.calls[0]["max_tokens"] == 20 and backend.calls[0]["temperature"] == 0.0
    summary = h.stats.summary()
    assert summary["calls"] == 1 and summary["schema_calls"] == 1
    assert summary["parses"] == 1 and summary["parse_failures"] == 0
    assert h.stats.calls[0].timings["total_s"] == 0.05 and h.stats.calls[0].completion_tokens == 5


def test_parse_failures_are_counted():
    dspy = import_dspy()
    h = dspy_lm(RecordingBackend(reply="I think yes"))
    with dspy.context(lm=h.lm, adapter=h.adapter, callbacks=[*h.callbacks]):
        with pytest.raises(Exception):  # noqa: B017 (dspy's parse error class moves between releases)
            dspy.Predict(_signature(dspy))(question="Is water wet?")
    assert h.stats.parses == 1 and h.stats.parse_failures == 1
    assert h.stats.parse_failure_rate == 1.0
    assert h.stats.calls[0].json_valid is False


def test_unconstrained_engine_sends_no_schema():
    dspy = import_dspy()
    backend = RecordingBackend(reply="[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]")
    h = dspy_lm(backend, constrained=False)
    with dspy.context(lm=h.lm, adapter=h.adapter, callbacks=[*h.callbacks]):
        pred = dspy.Predict(_signature(dspy))(question="Is water wet?")
    assert pred.answer == "yes"
    assert backend.calls[0]["schema"] is None


def test_uses_the_engine_interface_not_forward():
    dspy = import_dspy()
    h = dspy_lm(RecordingBackend())
    # dspy.LM(engine=...) is DSPy 3.4's current custom-LM path; no BaseLM subclass with forward().
    assert type(h.lm) is dspy.LM and h.lm.engine is h.engine
    assert callable(h.engine.complete) and h.engine.supports_response_schema


@pytest.mark.slow
def test_predict_parses_on_the_real_tiny_model(chat_model_path):
    from harness.backends.registry import open_backend

    dspy = import_dspy()
    backend = open_backend("llama-cpp", "smollm2-135m")  # default threads: this worker's cores
    try:
        h = dspy_lm(backend, max_tokens=16)
        program = dspy.Predict(_signature(dspy))
        with dspy.context(lm=h.lm, adapter=h.adapter, callbacks=[*h.callbacks]):
            answers = [program(question=q).answer for q in ("Is the sun hot?", "Do fish fly?", "Is ice cold?")]
    finally:
        backend.close()
    assert all(a in ("yes", "no", "maybe") for a in answers)
    summary = h.stats.summary()
    assert summary["calls"] == 3 and summary["schema_calls"] == 3
    assert summary["parse_failures"] == 0
    for call in h.stats.calls:
        assert call.json_valid
        assert call.timings["total_s"] > 0 and call.completion_tokens > 0
