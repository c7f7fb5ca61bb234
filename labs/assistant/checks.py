"""What the assistant reference's figures must show beyond passing, on the given data and on the
held-out problems and articles (harness/labs/curriculum.py)."""


def reference(reports):
    dev, held = reports
    for r in (dev, held):
        assert r.metrics["calculator_items"] == r.metrics["search_items"] == 30
        # the bare model stays far below on both halves: the gain is the tools'
        assert r.metrics["calculator_bare_accuracy"] <= 0.1 and r.metrics["search_bare_accuracy"] <= 0.1
        assert len(r.samples) == 60 and all(s["trace_ok"] for s in r.samples)
    assert held.dataset == "heldout.json" and held.metrics["dataset"] == "heldout.json"
