"""What the first-tokens reference's figures must show beyond passing (harness/labs/curriculum.py)."""


def reference(reports):
    (r,) = reports
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
