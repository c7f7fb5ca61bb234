"""first-tokens on the real default model: the reference passes, the starter and plausible
wrong solutions fail, each on the criterion that names its mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.labs.check import run_check
from harness.labs.spec import get_lab

# threads=1: CI shares its cores with other tests; the lab's figures do not depend on threads.
WRONG = Path(__file__).resolve().parent / "wrong"


pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab("first-tokens")
    assert spec.order == 1 and spec.models.chat == "smollm2-135m"
    assert {c.name for c in spec.criteria} >= {"answers_correct", "seed_reproducible", "stop_respected",
                                               "tokens_agree", "decode_error", "ttft_error"}


@pytest.mark.slow
def test_reference_passes(chat_model_path):
    r = run_check("first-tokens", reference=True, threads=1)
    assert r.error is None, r.error
    assert r.passed, [(c.name, c.value, c.required) for c in r.criteria if not c.passed]
    runs = r.metrics["timing_runs"]
    assert all(run["harness"]["n_tokens"] >= 16 for run in runs)  # the decode comparison was made
    assert r.timings["load_s"] > 0 and r.timings["tokens_out"] > 0
    # the prompt-caching lesson: the same ~400 tokens of instructions, new and then from the cache
    cold, cached = r.metrics["prompt_cache"]
    # the first time only the chat template's opening can come from earlier prompts
    assert cold["cached_tokens"] < 50 < 350 < cached["cached_tokens"] < cached["prompt_tokens"]
    assert cached["harness_ttft_s"] < cold["harness_ttft_s"] / 2
    assert r.timings["ttft_cached_s"] == cached["harness_ttft_s"]
    assert any(n.startswith("prompt caching: the same") for n in r.notes)


@pytest.mark.slow
def test_starter_fails_not_implemented(chat_model_path):
    r = run_check("first-tokens", get_lab("first-tokens").starter_path, threads=1)
    assert not r.passed
    assert r.error.kind == "not_implemented" and r.error.message == "not implemented yet: chat_once"


# Each wrong solution runs with --limit 2 (fewer questions and sampling prompts) to keep CI lean;
# the criteria it must fail do not depend on the number of items.
@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong, must_fail",
    [
        ("first_tokens_chars_as_tokens.py", {"tokens_agree", "decode_error"}),
        ("first_tokens_ignores_seed.py", {"seed_diversity"}),
        ("first_tokens_ttft_no_stream.py", {"ttft_error"}),
        ("first_tokens_no_template.py", {"answers_correct"}),
    ],
)
def test_wrong_solution_fails_on_its_mistake(chat_model_path, wrong, must_fail):
    r = run_check("first-tokens", WRONG / wrong, limit=2, threads=1)
    assert r.error is None, r.error
    assert not r.passed
    assert must_fail <= r.failed_criteria(), {c.name: c.value for c in r.criteria}
    assert all(any(s.startswith(f"{name}:") for s in r.next_steps) for name in must_fail)


@pytest.mark.slow
def test_no_prefix_cache_makes_every_prompt_cold_and_says_so(chat_model_path, monkeypatch):
    """`harness check --no-prefix-cache`: the child inherits it, nothing is reused, the report says so."""
    import json

    from typer.testing import CliRunner

    from harness.cli.app import app

    monkeypatch.setenv("HARNESS_PREFIX_CACHE", "1")  # the CLI sets 0 in this process: undone after the test
    r = CliRunner().invoke(app, ["check", "first-tokens", "--reference", "--limit", "2", "--threads", "1",
                                 "--no-prefix-cache", "--json"])
    report = json.loads(r.stdout)
    chat = report["backends"]["chat"]["extra"]
    assert chat["prefix_cache"] is False and chat["prompt_cache"]["cached_tokens"] == 0
    assert all(run["cached_tokens"] == 0 for run in report["metrics"]["prompt_cache"])
    assert any(n.startswith("prompt caching: off for this run") for n in report["notes"])
