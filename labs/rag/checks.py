"""What the rag reference's figures must show beyond passing, on the given articles and on the
held-out ones (harness/labs/curriculum.py)."""


def reference(reports):
    dev, held = reports
    for r in (dev, held):
        assert r.metrics["questions"] == 60 and r.metrics["articles"] == 4
        # closed-book stays far below: the gain is the passages', not the prompt's
        assert r.metrics["closed_book_contained_rate"] <= 0.15
    assert held.dataset == "heldout-30-35.json" and held.metrics["dataset"] == "heldout-30-35.json"
    d, h = ({c.name: c.value for c in r.criteria} for r in (dev, held))
    assert abs(d["retrieval_recall@2"] - h["retrieval_recall@2"]) <= 0.15
