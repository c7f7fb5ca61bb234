"""evals without a model: the grader's pure parts (its own statistics, the fixed cases, the
verdict parser, the datasets) and the learner's constants.
The starter, the reference (on the lab's data and its [dev] reference_datasets) and the wrong
solutions are graded on the real models by tests/labs/test_curriculum.py and `harness dev check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.grading.metrics import wilson_interval
from harness.labs.api import LabContext, LearnerError
from harness.labs.child import import_file
from harness.labs.spec import get_lab

LABS = Path(__file__).resolve().parents[2]  # labs/
WRONG = Path(__file__).resolve().parents[1] / "wrong"
PUBMEDQA = LABS / "_data" / "pubmedqa"
CRITERIA = {
    "interval_match_rate",
    "majority_baseline_match_rate",
    "majority_flag_match_rate",
    "paired_p_match_rate",
    "paired_verdict_match_rate",
    "judge_valid_rate",
    "kappa_match_rate",
}


pytestmark = pytest.mark.usefixtures("real_labs")


@pytest.fixture(scope="module")
def g():
    return import_file("_evals_grader", LABS / "evals" / "grader.py")


@pytest.fixture(scope="module")
def ref():
    return import_file("_evals_solution", LABS / "evals" / "solution.py")


def test_spec_is_valid():
    spec = get_lab("evals")
    assert spec.order == 8 and spec.models.chat == "smollm2-135m" and spec.models.embedding is None
    assert spec.entry == [
        "accuracy_interval",
        "majority_baseline",
        "is_majority_classifier",
        "paired_test",
        "judge",
        "cohen_kappa",
    ]
    assert {c.name for c in spec.criteria} == CRITERIA
    assert all(c.op == ">=" and c.threshold == 1.0 for c in spec.criteria)
    assert spec.timeout_s >= 240 and "reference" in (spec.timeout_basis or "")


def test_bench_files_every_criterion_as_accuracy():
    """harness bench files a figure under the kind lab.toml declares: all seven are accuracies, none a latency."""
    from harness.bench.cell import lab_figures
    from harness.labs.spec import get_lab

    report = {
        "criteria": [{"name": n, "value": 1.0, "op": ">=", "threshold": 1.0, "passed": True} for n in CRITERIA],
        "metrics": {"pubmedqa_a_accuracy": 0.525, "judge_kappa": 0.227, "judge_agreement": 0.6},
        "timings": {"judge_s": 20.0},
        "wall_s": 150.0,
        "passed": True,
    }
    figures = lab_figures([report], get_lab("evals").figure_kinds())
    assert CRITERIA <= set(figures.accuracy) and not CRITERIA & set(figures.latency)
    assert "pubmedqa_a_accuracy" in figures.accuracy and "judge_s" in figures.latency
    assert figures.extra["judge_kappa"] == 0.227  # kept with the result, not compared as an accuracy


def test_reference_statistics_match_the_harness_on_the_fixed_cases(g, ref):
    for k, n in g.INTERVAL_CASES:
        acc, lo, hi = ref.accuracy_interval(g._flags(k, n))
        assert acc == k / n and (lo, hi) == pytest.approx(wilson_interval(k, n), abs=1e-12)
    for a, b in g.PAIRED_CASES:
        assert ref.paired_test(a, b) == g.paired_verdict(a, b, 0.05)
    for gold in g.MAJORITY_CASES:
        label, acc = ref.majority_baseline(gold)
        assert (label in g.majority_labels(gold)[0]) and acc == g.majority_labels(gold)[1]
    for pred, gold in g.FLAG_CASES:
        assert ref.is_majority_classifier(pred, gold) == g.majority_flag(pred, gold, 0.9)
    for a, b in g.KAPPA_CASES:
        assert ref.cohen_kappa(a, b) == pytest.approx(g.cohen_kappa(a, b), abs=1e-12)


def test_fixed_cases_say_what_they_claim(g):
    verdicts = [g.paired_verdict(a, b, 0.05) for a, b in g.PAIRED_CASES]
    assert [v for _, v in verdicts] == ["B is better", "not significant", "not significant", "not significant"]
    assert verdicts[0][0] == pytest.approx(2 / 1024)
    assert [g.majority_flag(p, gold, 0.9) for p, gold in g.FLAG_CASES] == [True, False, False, True, False]
    assert [round(g.cohen_kappa(a, b), 4) for a, b in g.KAPPA_CASES] == [0.5, 1.0, -1.0, 0.0, -0.1364]
    assert g.cohen_kappa([True] * 5, [True] * 5) is None  # undefined: chance agreement is 1
    assert g.paired_verdict([True, False] * 5, [False, True] * 5, 0.05) == (1.0, "not significant")


def test_wrong_statistics_fail_on_the_fixed_cases(g):
    """Without a model: an unpaired test and a fixed-width interval disagree with the harness here."""
    unpaired = import_file("_evals_unpaired", WRONG / "unpaired_test.py")
    fixed = import_file("_evals_fixed", WRONG / "fixed_interval.py")
    wrong_verdicts = [unpaired.paired_test(a, b)[1] != g.paired_verdict(a, b, 0.05)[1] for a, b in g.PAIRED_CASES]
    assert sum(wrong_verdicts) == 3  # misses the real gain, and calls both noisy swaps significant
    misses = 0
    for k, n in g.INTERVAL_CASES:
        _, lo, hi = fixed.accuracy_interval(g._flags(k, n))
        wlo, whi = wilson_interval(k, n)
        misses += abs(lo - wlo) > 0.05 or abs(hi - whi) > 0.05
    assert misses >= 3


def test_parse_verdict_accepts_one_clean_verdict_only(g):
    assert g.parse_verdict('{ "verdict": "yes"}') is True and g.parse_verdict('{"verdict": "no"}') is False
    assert g.parse_verdict('{"reason": "it names 1893", "correct": true}') is True
    assert g.parse_verdict(" No. ") is False and g.parse_verdict('"yes"') is True
    assert g.parse_verdict("No, the reply is incorrect. The correct answer is England.") is None
    assert g.parse_verdict('{"a": "yes", "b": "no"}') is None and g.parse_verdict('{"verdict": "maybe"}') is None
    assert g.parse_verdict("{not json") is None and g.parse_verdict(None) is None


def test_recording_llm_keeps_every_reply_and_passes_calls_through(g):
    from harness.backends.base import Chunk, Completion, Timings

    class Fake:
        name = "fake"

        def chat(self, messages, **kw):
            return Completion(text='{"verdict": "yes"}', prompt_tokens=3, completion_tokens=5, timings=Timings())

        def stream(self, messages, **kw):
            c = self.chat(messages, **kw)
            yield Chunk(text=c.text)
            yield Chunk(text="", done=True, completion=c)

    rec = g.RecordingLLM(Fake())
    assert rec.chat([{"role": "user", "content": "x"}], schema={"type": "object"}).text == '{"verdict": "yes"}'
    assert [c.text for c in rec.stream([{"role": "user", "content": "x"}])][0] == '{"verdict": "yes"}'
    assert rec.replies == ['{"verdict": "yes"}'] * 2 and rec.schemas == [True, False] and rec.name == "fake"


def test_datasets_read_both_formats_and_reject_others(g, tmp_path):
    data = json.loads((PUBMEDQA / "dev.json").read_text())
    items = g.pubmedqa_items(data, "dev.json", 40)
    assert len(items) == 40 and [it["id"] for it in items] == sorted(data)[:40]
    assert all(it["gold"] in g.LABELS and it["conclusion"] for it in items)
    squad = json.loads((LABS / "_data" / "squad" / "dev.json").read_text())
    a, b = g.squad_items(squad, "dev.json", 30, 0), g.squad_items(squad, "dev.json", 30, 0)
    assert a == b and len(a) == 30 and len({it["id"] for it in a}) == 30
    assert all(it["gold"] and it["question"] and it["context"] for it in a)
    assert g.is_squad(squad) and not g.is_squad(data)
    with pytest.raises(LearnerError, match="neither PubMedQA's format"):
        g.pubmedqa_items([{"question": "x"}], "bad.json", 5)
    with pytest.raises(LearnerError, match="SQuAD v1.1's format"):
        g.squad_items({"data": [{"title": "x"}]}, "bad.json", 5, 0)


def test_bad_dataset_is_a_clear_error(g, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "x"}]')
    ctx = LabContext(
        lab_id="evals",
        lab_dir=LABS / "evals",
        data_dir=LABS / "evals" / "data",
        dataset_path=bad,
        limit=None,
        seed=0,
        config={},
    )
    with pytest.raises(LearnerError, match="neither PubMedQA's format"):
        g.grade(None, ctx)


def test_the_learners_constants_are_the_lab_tomls(ref):
    """The starter and the reference state alpha and the majority share; the grader reads lab.toml's."""
    cfg = get_lab("evals").grader
    starter = import_file("_evals_starter", LABS / "evals" / "starter.py")
    for module in (ref, starter):
        assert module.ALPHA == cfg["alpha"] and module.MAJORITY_SHARE == cfg["majority_share"]


def test_a_tied_gold_majority_is_not_graded(g):
    """Under --limit the gold labels can tie (2 no, 2 yes): "the majority label" is then not one
    label, so the flag has no single right answer and the case is left out, not failed."""
    gold = ["no", "no", "yes", "yes"]
    assert g.graded_flag(["yes"] * 4, gold, 0.9) is None
    assert g.graded_flag(["yes"] * 4, gold + ["yes"], 0.9) is True
