"""What the dspy runs must show beyond their verdicts (harness/labs/curriculum.py)."""


def reference(reports):
    (r,) = reports
    adapter = r.metrics["adapter"]
    assert adapter["calls"] == adapter["schema_calls"] == 2 * r.metrics["test_items"]
    assert r.timings["item_p50_s"] > 0


def wrong(name, report):
    # without demos the "optimized" program sends the baseline's very prompts: the same answers
    assert report.metrics["optimized_accuracy"] == report.metrics["baseline_accuracy"]
