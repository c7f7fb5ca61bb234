"""What the evals runs must show beyond their verdicts (harness/labs/curriculum.py)."""


def starter(report):
    # The fixed cases come first, so the starter fails at once (no model is loaded).
    assert report.wall_s < 30


def reference(reports):
    dev, held = reports  # held: PubMedQA's held-out split with --limit 20 (lab.toml [dev])
    for r, n_pub, n_squad in ((dev, 40, 30), (held, 20, 20)):
        assert r.metrics["pubmedqa_questions"] == n_pub and r.metrics["squad_questions"] == n_squad
        assert r.metrics["judge_calls_with_schema"] == r.metrics["judge_calls"] == n_squad
        # The tiny model is the majority baseline on PubMedQA, with and without the conclusion...
        assert r.metrics["pubmedqa_majority_flags"] == {"A": True, "B": True}
        assert r.metrics["pubmedqa_a_vs_b"]["verdict"] == "not significant"
        # ...and the paragraph makes a real, significant difference on SQuAD.
        assert r.metrics["squad_a_vs_b"]["verdict"] == "B is better"
        assert r.metrics["judge_kappa"] is not None and -1 <= r.metrics["judge_kappa"] <= 1
    assert held.dataset == "heldout.json" and held.metrics["dataset"] == "heldout.json"
    assert dev.metrics["squad_dataset"] == held.metrics["squad_dataset"] == "dev.json"
