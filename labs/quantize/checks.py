"""What the quantize runs must show beyond their verdicts, and that the pinned model file in the
store is never changed by any of them (harness/labs/curriculum.py)."""

from contextlib import contextmanager

EMBEDDING = "minilm-l6-v2"


@contextmanager
def guard():
    """The pinned file in the model store: the same bytes after the run, nothing new beside it."""
    from harness.models.store import resolve_model_path, sha256_file, verify

    path = resolve_model_path(EMBEDDING)
    before = sha256_file(path), sorted(p.name for p in path.parent.iterdir())
    yield
    assert (sha256_file(path), sorted(p.name for p in path.parent.iterdir())) == before
    assert verify(EMBEDDING)["ok"]


def reference(reports):
    dev, held = reports
    for r in (dev, held):
        assert r.metrics["questions"] == r.metrics["passages"] == 50 and r.metrics["pinned_sha256_unchanged"]
        rows = {row["type"]: row for row in r.metrics["table"]}
        assert list(rows) == ["F16", "Q8_0", "Q4_K_M", "Q4_0", "TQ2_0"]  # largest first
        sizes = [row["size_bytes"] for row in rows.values()]
        assert sizes == sorted(sizes, reverse=True) and rows["TQ2_0"]["size_bytes"] < 0.45 * rows["F16"]["size_bytes"]
        # the lesson: Q8_0 is nearly free, Q4 moves the vectors a little, TQ2_0 a lot and loses recall
        assert rows["Q8_0"]["non_inferior"]
        assert (
            0.95
            < rows["Q4_0"]["cosine_to_f16"]
            < rows["Q4_K_M"]["cosine_to_f16"]
            < 0.999
            < rows["Q8_0"]["cosine_to_f16"]
        )
        assert rows["TQ2_0"]["cosine_to_f16"] < 0.7 and not rows["TQ2_0"]["non_inferior"]
        # so choosing by size alone gives another answer than the rule
        assert r.metrics["smallest_file"] == "TQ2_0" and "TQ2_0" not in r.metrics["accepted_choices"]
    assert held.dataset == "heldout-30-35.json" and held.metrics["dataset"] == "heldout-30-35.json"
