"""What the prompt-chaining reference's figures must show beyond passing, on the given problems
(--limit 40) and on the held-out ones (harness/labs/curriculum.py)."""


def reference(reports):
    dev, held = reports
    for r, items in ((dev, 40), (held, 60)):
        assert r.metrics["items"] == items
        # the single prompt stays near zero: the gain is the chain's, not the examples'
        assert r.metrics["single_accuracy"] <= 0.05
    assert held.dataset == "heldout-501-700.json" and held.metrics["one_operation_problems"] == 146
    assert dev.metrics["gold_equations"] == 500 and held.metrics["equations_skipped"] == ["chal-680"]
