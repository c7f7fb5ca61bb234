"""assistant: the grader's parts and its whole run on fake models (no model needed).
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.backends.base import Completion, Timings
from harness.labs.api import LabContext, LearnerError
from harness.labs.child import import_file
from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
LAB = "assistant"
# SVAMP chal-501..700 and SQuAD dev articles 30-35: neither is in labs/_data.
HELDOUT = LABS / "_heldout" / "assistant" / "heldout.json"
CRITERIA = {
    "routing_accuracy",
    "tool_schemas_strict",
    "valid_tool_calls",
    "step_limit_kept",
    "trace_ok_rate",
    "calculator_minus_bare_ci_low",
    "calculator_vs_bare_mcnemar_p",
    "search_minus_bare_ci_low",
    "search_vs_bare_mcnemar_p",
    "latency_p95_s",
}
ENTRY = ["tool_schemas", "route", "calculator", "build_index", "search", "answer"]

pytestmark = pytest.mark.usefixtures("real_labs")


@pytest.fixture(scope="module")
def g():
    return import_file("_assistant_grader", LABS / LAB / "grader.py")


@pytest.fixture(scope="module")
def ref():
    return import_file("_assistant_solution", LABS / LAB / "solution.py")


# ---------------------------------------------------------------- fake models (fast tests)


class FakeLLM:
    """Deterministic: under an enum schema the first option, under a number schema 1, else the
    first words of the last message (so a search reply holds words of its passages)."""

    def __init__(self):
        self.calls = 0

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, stop=None, schema=None):
        self.calls += 1
        props = (schema or {}).get("properties", {})
        if "expression" in props:
            text = json.dumps({"expression": props["expression"]["enum"][0]})
        elif "answer" in props:
            text = '{"answer": 1}'
        elif "tool" in props:
            text = '{"tool": "search"}'
        else:
            text = " ".join(messages[-1]["content"].split("Passages:")[-1].split()[:8])
        return Completion(text=text, prompt_tokens=10, completion_tokens=5, timings=Timings())


class FakeEmbedder:
    """Bag of hashed words, unit length: similar texts get similar vectors."""

    def embed(self, texts, *, normalize=True):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _ctx(dataset: Path | None = None, limit: int | None = 4, **config) -> LabContext:
    cfg = {**get_lab(LAB).grader, **config}
    return LabContext(
        lab_id=LAB,
        lab_dir=LABS / LAB,
        data_dir=LABS / LAB / "data",
        dataset_path=dataset,
        limit=limit,
        seed=0,
        config=cfg,
        _llm_factory=FakeLLM,
        _embedder_factory=FakeEmbedder,
    )


def _solution(ref, **overrides):
    ns = SimpleNamespace(**{name: getattr(ref, name) for name in ENTRY})
    ns.__dict__.update(overrides)
    return ns


# ---------------------------------------------------------------- spec and data


def test_spec_is_valid():
    spec = get_lab(LAB)
    assert spec.order == 10 and spec.version == "1"
    assert spec.models.chat == "smollm2-135m" and spec.models.embedding == "minilm-l6-v2"
    assert spec.entry == ENTRY
    assert {c.name for c in spec.criteria} == CRITERIA
    assert set(spec.grader) == {"n_per_tool", "n_articles", "item_seed", "max_steps"}
    assert spec.timeout_s >= 240 and "reference" in (spec.timeout_basis or "")


def test_items_are_seeded_mixed_and_show_only_id_and_text(g):
    svamp, squad, name = g.sources(_ctx())
    assert name == "given" and len(g.one_operation(svamp)) == 390
    a, docs, n_articles = g.build_items(svamp, squad, n_per_tool=30, n_articles=2, seed=0)
    b, _, _ = g.build_items(svamp, squad, n_per_tool=30, n_articles=2, seed=0)
    assert a == b and len(a) == 60 and n_articles == 2 and len(docs) == 54 + 49
    assert sum(it["tool"] == "calculator" for it in a) == 30
    assert {it["tool"] for it in a[:10]} == {"calculator", "search"}  # shuffled, not one half then the other
    assert [it["id"] for it in a] == [f"item-{i:02d}" for i in range(1, 61)]  # nothing of the source in the id
    assert g.build_items(svamp, squad, n_per_tool=30, n_articles=2, seed=1)[0] != a
    # a --limit run grades a part of the full run: the first `limit` items of each tool
    part, _, _ = g.build_items(svamp, squad, n_per_tool=30, n_articles=2, seed=0, limit=5)
    assert len(part) == 10
    full = {(it["tool"], it["text"]) for it in a}
    assert {(it["tool"], it["text"]) for it in part} <= full
    for it in a:
        if it["tool"] == "calculator":  # one operation, its operands in the text
            assert len(g.OPERATOR.findall(f" {it['equation']} ")) == 1
        else:
            assert all(x.strip() for x in it["answers"])


def test_heldout_manifest_names_files_the_lab_never_saw(g):
    svamp, squad, name = g.sources(_ctx(HELDOUT))
    assert name == "heldout.json" and len(g.one_operation(svamp)) == 146
    given_svamp, given_squad, _ = g.sources(_ctx())
    assert not {r["ID"] for r in svamp} & {r["ID"] for r in given_svamp}
    assert not {a["title"] for a in squad["data"]} & {a["title"] for a in given_squad["data"]}


def test_dataset_may_hold_the_data_itself(g, tmp_path):
    svamp, squad, _ = g.sources(_ctx())
    f = tmp_path / "inline.json"
    f.write_text(json.dumps({"svamp": svamp[:40], "squad": {"data": squad["data"][:2]}}))
    s2, q2, name = g.sources(_ctx(f))
    assert name == "inline.json" and s2 == svamp[:40] and q2["data"] == squad["data"][:2]


@pytest.mark.parametrize(
    "body, needle",
    [
        ("not json", "cannot read the dataset"),
        ('{"svamp": "x.json"}', 'expected a JSON object {"svamp"'),
        ('{"svamp": "missing.json", "squad": "missing.json"}', "cannot read the SVAMP file"),
        ('{"svamp": [{"Body": "b"}], "squad": {"data": []}}', "the SVAMP part must be a list"),
        ('{"svamp": [], "squad": {"data": [{"title": "t"}]}}', "SQuAD v1.1's format"),
    ],
)
def test_bad_dataset_is_a_clear_error(g, tmp_path, body, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(body)
    with pytest.raises(LearnerError, match=re.escape(needle)):
        g.grade(_solution(import_file("_assistant_solution2", LABS / LAB / "solution.py")), _ctx(bad))


# ---------------------------------------------------------------- the reference's parts


def test_reference_schemas_pass_the_probes_and_loose_ones_do_not(g, ref):
    assert g.schema_checks(ref) == (1.0, [])
    loose = _solution(ref, tool_schemas=lambda item: {"calculator": {"type": "object"}, "search": {"type": "object"}})
    share, misses = g.schema_checks(loose)
    assert share < 0.6 and any("9 + 3" in m for m in misses)
    none = _solution(ref, tool_schemas=lambda item: {})
    assert g.schema_checks(none)[0] == 0.0
    pattern = {
        "type": "object",
        "properties": {"expression": {"type": "string", "pattern": r"^\d+ [-+*/] \d+$"}},
        "required": ["expression"],
        "additionalProperties": False,
    }
    only_pattern = _solution(ref, tool_schemas=lambda item: {"calculator": pattern, "search": ref.SEARCH_SCHEMA})
    share, misses = g.schema_checks(only_pattern)  # a number that is not in the problem gets through
    assert share < 1 and misses == ['calculator should refuse {"expression": "9 + 3"}']


def test_the_small_check_without_jsonschema_agrees(g, ref, monkeypatch):
    monkeypatch.setattr(g, "Draft202012Validator", None)
    assert g.schema_checks(ref) == (1.0, [])
    loose = _solution(ref, tool_schemas=lambda item: {"calculator": {"type": "object"}, "search": {"type": "object"}})
    assert g.schema_checks(loose)[0] < 0.6


def test_reference_calculator_computes_and_refuses(ref):
    assert ref.calculator({"expression": "76 - 25"}) == 51.0
    assert ref.calculator({"expression": "7.5 * 2"}) == 15.0
    assert ref.calculator({"expression": "12 / 3"}) == 4.0
    for bad in ("__import__('os').system('ls')", "1 + 2 + 3", "2 ** 8", "x + 1", "5 / 0", "", "(1).__class__"):
        with pytest.raises(ValueError):
            ref.calculator({"expression": bad})
    with pytest.raises(ValueError):
        ref.calculator({"query": "1 + 1"})


def test_reference_candidates_hold_the_gold_expression(g, ref):
    """The enum holds every "a op b" over the text's numbers, larger first: the gold one is there
    for almost every one-operation problem (the exceptions write a number in words)."""
    svamp, _, _ = g.sources(_ctx())
    probs = g.one_operation(svamp)
    held = 0
    for p in probs:
        if any(ref.calculator({"expression": c}) == p["answer"] for c in ref.candidates(p["text"])):
            held += 1
    assert held / len(probs) >= 0.99


def test_the_rule_routes_nearly_every_item(g, ref):
    svamp, squad, _ = g.sources(_ctx())
    items, _, _ = g.build_items(svamp, squad, n_per_tool=30, n_articles=2, seed=0)
    assert sum(ref.route(None, None, it) == it["tool"] for it in items) / len(items) >= 0.95


# ---------------------------------------------------------------- traces and scores


def _call(tool="calculator", arguments=None, result=9.0, error=None):
    return {
        "tool": tool,
        "arguments": arguments or {"expression": "14 - 5"},
        "valid": True,
        "result": result,
        "error": error,
        "seconds": 0.01,
    }


def test_a_trace_is_the_record_of_the_calls(g):
    step = {"tool": "calculator", "arguments": {"expression": "14 - 5"}, "result": 9.0, "seconds": 0.01}
    assert g.trace_problems([step], [_call()], 3, 1.0) == []
    assert g.trace_problems([], [], 3, 1.0) == ["no step: every item needs one tool call at least"]
    assert g.trace_problems("trace", [_call()], 3, 1.0)[0].startswith("the trace must be a list")
    assert "1 steps in the trace, 0 tool calls made" in g.trace_problems([step], [], 3, 1.0)
    assert g.trace_problems([{**step, "result": 10.0}], [_call()], 3, 1.0) == [
        "step 1: result differs from what the tool returned"
    ]
    assert g.trace_problems([{**step, "arguments": {"expression": "5 - 14"}}], [_call()], 3, 1.0) == [
        "step 1: arguments differ from those of the call"
    ]
    assert g.trace_problems([{**step, "tool": "search"}], [_call()], 3, 1.0) == [
        "step 1: tool 'search', but 'calculator' was called"
    ]
    assert g.trace_problems([{k: v for k, v in step.items() if k != "seconds"}], [_call()], 3, 1.0) == [
        "step 1 must be {tool, arguments, result, seconds}"
    ]
    assert g.trace_problems([{**step, "seconds": 5.0}], [_call()], 3, 1.0)[0].startswith("step 1: seconds must be")
    four = [step] * 4
    assert "4 steps, more than the limit of 3" in g.trace_problems(four, [_call()] * 4, 3, 1.0)
    raised = _call(result=None, error="ValueError: division by zero")
    assert g.trace_problems([{**step, "result": "error: division by zero"}], [raised], 3, 1.0) == []
    assert g.trace_problems([{**step, "result": None}], [raised], 3, 1.0)[0].startswith("step 1: the tool raised")


def test_answers_are_scored_per_half(g):
    calc = {"tool": "calculator", "answer": 51.0}
    assert g.right(calc, "51", []) and g.right(calc, 51.0, []) and g.right(calc, "It is 51.", [])
    assert not g.right(calc, "50", []) and not g.right(calc, None, []) and not g.right(calc, True, [])
    q = {"tool": "search", "answers": ["Denver Broncos"]}
    assert g.right(q, "the Denver Broncos", ["It was the Denver Broncos."])
    assert not g.right(q, "the Denver Broncos", [])  # not a reply of the model in that call
    long = "Denver Broncos " + "word " * 40
    assert not g.right(q, long, [long])  # the passages copied back


def test_format_trace_is_one_line_per_step(g):
    trace = [
        {"tool": "calculator", "arguments": {"expression": "8 / 3"}, "result": "error: not whole", "seconds": 0.01},
        {"tool": "search", "arguments": {"query": "q"}, "result": ["Alpha beta.", "Gamma."], "seconds": 0.2},
    ]
    line = g.format_trace(trace)
    assert line.startswith('calculator {"expression": "8 / 3"} -> "error: not whole" (0.01 s); search {"query": "q"}')
    assert "2 passages" in line and g.format_trace([]) == "no step"
    assert g._no_brackets("Warszawa [varˈʂava], a [/b]") == "Warszawa (varˈʂava), a (/b)"


# ---------------------------------------------------------------- the whole grader on fake models


def test_grade_on_fake_models_measures_every_criterion(g, ref):
    m = g.grade(_solution(ref), _ctx(limit=4))
    assert set(m.values) == CRITERIA
    assert m.values["tool_schemas_strict"] == m.values["valid_tool_calls"] == 1.0
    assert m.values["step_limit_kept"] == m.values["trace_ok_rate"] == 1.0
    assert m.metrics["items"] == 8 and m.metrics["calculator_items"] == m.metrics["search_items"] == 4
    # every item's trace is in the samples (what --json shows), one line of two in the notes
    assert all(
        s["trace"] and s["trace_ok"] and set(s["trace"][0]) == {"tool", "arguments", "result", "seconds"}
        for s in m.samples
    )
    assert sum(n.startswith("trace of item-") for n in m.notes) == 2
    assert any('each sample\'s "trace"' in n for n in m.notes)
    assert not any("[" in n for n in m.notes if n.startswith("trace of"))  # the text report reads [x] as markup


def test_a_loop_without_a_step_limit_is_stopped_and_fails(g, ref):
    def answer(llm, embedder, tools, item, max_steps):
        trace = []
        while True:  # retries the same call until a result it likes: never
            try:
                r = tools["search"]({"query": item["text"]})
            except Exception:  # a broad except cannot swallow the grader's stop
                continue
            trace.append({"tool": "search", "arguments": {"query": item["text"]}, "result": r, "seconds": 0.0})

    m = g.grade(_solution(ref, answer=answer), _ctx(limit=2))
    assert m.values["step_limit_kept"] == 0.0 and m.values["trace_ok_rate"] == 0.0
    assert all(s["tool_calls"] == 3 * g.HARD_CAP_FACTOR and s["answer"] is None for s in m.samples)


def test_a_trace_written_by_hand_fails(g, ref):
    def answer(llm, embedder, tools, item, max_steps):
        out = ref.answer(llm, embedder, tools, item, max_steps)
        return {
            "answer": out["answer"],
            "trace": [{"tool": "calculator", "arguments": {"expression": "1 + 1"}, "result": 2.0, "seconds": 0.0}],
        }

    m = g.grade(_solution(ref, answer=answer), _ctx(limit=2))
    assert m.values["trace_ok_rate"] == 0.0 and m.values["valid_tool_calls"] == 1.0


def test_calls_that_bypass_the_schema_are_counted(g, ref):
    def answer(llm, embedder, tools, item, max_steps):
        if ref.route(llm, embedder, item) == "search":
            return ref.answer(llm, embedder, tools, item, max_steps)
        arguments = {"expression": "1 + 1"}  # not one of this item's candidates
        r = tools["calculator"](arguments)
        return {
            "answer": str(r),
            "trace": [{"tool": "calculator", "arguments": arguments, "result": r, "seconds": 0.0}],
        }

    m = g.grade(_solution(ref, answer=answer), _ctx(limit=2))
    assert m.values["valid_tool_calls"] == 0.5 and m.values["trace_ok_rate"] == 1.0


def test_an_unusable_answer_is_a_learner_error(g, ref):
    with pytest.raises(LearnerError, match="answer\\(\\) must return"):
        g.grade(_solution(ref, answer=lambda *a: "42"), _ctx(limit=1))
    with pytest.raises(LearnerError, match="route\\(\\) must return"):
        g.grade(_solution(ref, route=lambda *a: "web"), _ctx(limit=1))


# ---------------------------------------------------------------- the real default models
