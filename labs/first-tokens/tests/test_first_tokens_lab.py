"""first-tokens: its spec, and `harness check --no-prefix-cache` on the real default model (its starter, reference and wrong solutions are graded by tests/labs/test_curriculum.py
and `harness dev check`)."""

from __future__ import annotations

import pytest

from harness.labs.spec import get_lab

pytestmark = pytest.mark.usefixtures("real_labs")


def test_spec_is_valid():
    spec = get_lab("first-tokens")
    assert spec.order == 1 and spec.models.chat == "smollm2-135m"
    assert {c.name for c in spec.criteria} >= {
        "answers_correct",
        "seed_reproducible",
        "stop_respected",
        "tokens_agree",
        "decode_error",
        "ttft_error",
    }


@pytest.mark.slow
def test_no_prefix_cache_makes_every_prompt_cold_and_says_so(chat_model_path, monkeypatch):
    """`harness check --no-prefix-cache`: the child inherits it, nothing is reused, the report says so."""
    import json

    from typer.testing import CliRunner

    from harness.cli.app import app

    monkeypatch.setenv("HARNESS_PREFIX_CACHE", "1")  # the CLI sets 0 in this process: undone after the test
    r = CliRunner().invoke(
        app, ["check", "first-tokens", "--reference", "--limit", "2", "--threads", "1", "--no-prefix-cache", "--json"]
    )
    report = json.loads(r.stdout)
    chat = report["backends"]["chat"]["extra"]
    assert chat["prefix_cache"] is False and chat["prompt_cache"]["cached_tokens"] == 0
    assert all(run["cached_tokens"] == 0 for run in report["metrics"]["prompt_cache"])
    assert any(n.startswith("prompt caching: off for this run") for n in report["notes"])
