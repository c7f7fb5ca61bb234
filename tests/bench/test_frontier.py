"""The accuracy-vs-speed frontier and its recommendation (harness/bench/frontier.py), on hand-made
RunResults: every figure asserted follows from the outcomes and latencies written here."""

from __future__ import annotations

import json
import re

import pytest

from harness.bench.frontier import frontiers, pareto
from harness.bench.frontier_report import to_markdown
from harness.bench.schema import Cell, EmbedModel, ItemOutcomes
from harness.bench.stats import summarize
from harness.grading.outcomes import items_digest, per_item
from harness.grading.stats import mcnemar_exact

ITEMS = items_digest(range(40))


def lab_run(
    run_factory,
    *,
    correct: list[int],
    item_s: float,
    model: str = "smollm2-135m",
    threads: int = 2,
    items: str = ITEMS,
    lab: str = "rag",
    outcomes: bool = True,
):
    run = run_factory(lab=lab, model=model, threads=threads, accuracy=sum(correct) / len(correct))
    run.cell = Cell(lab=lab, model=model, backend="llama-cpp", device="cpu", threads=threads)
    run.lab.latency = {"item_p50_s": summarize([item_s])}
    run.lab.outcomes = ItemOutcomes(figure="accuracy", items_sha256=items, correct=correct) if outcomes else None
    run.backend_info = {"roles": {"chat": {}}}
    return run


def ones(k: int, n: int = 40) -> list[int]:
    return [1] * k + [0] * (n - k)


def test_pareto_flags_what_no_other_point_beats_in_both():
    # (accuracy, speed), both higher better: (0.5, 1) is beaten by (0.6, 2); ties in both are not domination
    assert pareto([(0.6, 2.0), (0.5, 1.0), (0.7, 0.5), (0.6, 2.0), None]) == [True, False, True, True, None]


def test_the_fastest_not_significantly_worse_is_recommended_with_its_reason(run_factory, result_factory):
    best = lab_run(run_factory, correct=ones(12), item_s=0.9, model="gemma3-270m")
    small = lab_run(run_factory, correct=ones(10), item_s=0.3)  # 2 fewer right: McNemar b=2 c=0, p=0.5
    [f] = frontiers([result_factory([best, small])], ["a.json"])
    assert f.best.label == "gemma3-270m" and f.recommended.label == "smollm2-135m"
    assert mcnemar_exact(ones(12), ones(10)).p_value == pytest.approx(0.5)
    assert f.reason == (
        "smollm2-135m: 0.25 vs best 0.3 (gemma3-270m), McNemar b=2 c=0 p=0.5 on 40 items, "
        "3.0x faster per item (300 ms vs 900 ms)"
    )
    assert [p.pareto_latency for p in f.points] == [True, True]


def test_a_significantly_worse_faster_configuration_is_not_recommended(run_factory, result_factory):
    best = lab_run(run_factory, correct=ones(20), item_s=0.9, model="gemma3-270m")
    worse = lab_run(run_factory, correct=ones(8), item_s=0.3)  # b=12 c=0: p = 2/2^12
    [f] = frontiers([result_factory([best, worse])], ["a.json"])
    assert f.recommended is f.best and f.best.label == "gemma3-270m"
    [t] = f.tests
    assert (t.b, t.c, t.not_worse) == (12, 0, False) and t.p_value == pytest.approx(2 / 2**12)
    assert "the faster smollm2-135m is significantly worse (0.2, McNemar b=12 c=0 p=0.00049)" in f.reason


def test_discordant_items_count_not_just_the_rates(run_factory, result_factory):
    """Equal rates on different items: the test sees 10 discordant pairs each way, p = 1."""
    a = lab_run(run_factory, correct=ones(20), item_s=0.9, model="gemma3-270m")
    b = lab_run(run_factory, correct=[0] * 10 + [1] * 20 + [0] * 10, item_s=0.5)
    [f] = frontiers([result_factory([a, b])], ["a.json"])
    t = f.tests[0]
    assert (t.b, t.c, t.p_value) == (10, 10, 1.0) and f.recommended.label == "smollm2-135m"


def test_other_items_are_never_paired(run_factory, result_factory):
    best = lab_run(run_factory, correct=ones(12), item_s=0.9, model="gemma3-270m")
    other = lab_run(run_factory, correct=ones(11), item_s=0.2, items=items_digest(range(1, 41)))  # another --limit/seed
    [f] = frontiers([result_factory([best]), result_factory([other])], ["a.json", "b.json"])
    [t] = f.tests
    assert not t.paired and t.p_value is None and "not paired" in t.note
    assert f.recommended is f.best
    assert "answered other items, so it was not tested" in f.reason


def test_a_lab_without_outcomes_is_plotted_but_never_recommended(run_factory, result_factory):
    old = lab_run(run_factory, correct=ones(12), item_s=0.2, lab="vector-index", outcomes=False)
    old.lab.outcomes_note = (
        "the lab declares no frontier criterion (lab.toml: frontier = true), so it has no per-item outcomes"
    )
    [f] = frontiers([result_factory([old])], ["a.json"])
    assert f.recommended is None and f.points[0].accuracy == pytest.approx(0.3)  # plotted from its accuracy figure
    assert f.reason.startswith("no recommendation for vector-index")
    assert "plotted, never recommended: the lab declares no frontier criterion" in f.notes[0]


def test_labels_name_what_varies_and_decode_comes_from_the_matching_throughput_cell(run_factory, result_factory):
    one = lab_run(run_factory, correct=ones(10), item_s=0.5, threads=1)
    two = lab_run(run_factory, correct=ones(10), item_s=0.3, threads=2)
    for r in (one, two):
        r.lab.latency.pop("decode_tok_s", None)
    tp1, tp2 = run_factory(threads=1, tg=50.0), run_factory(threads=2, tg=90.0)
    [f] = frontiers([result_factory([tp1, tp2, one, two])], ["a.json"])
    assert [p.label for p in f.points] == ["1 thread", "2 threads"]
    assert [p.decode_tok_s for p in f.points] == [pytest.approx(50.0), pytest.approx(90.0)]
    assert (
        f.recommended.label == "2 threads" and "no tested configuration is faster" in f.reason
    )  # equal accuracy: faster wins
    assert "(tp)" in to_markdown([f])


def test_embedding_quantisations_are_configurations(run_factory, result_factory):
    runs = []
    for quant, k, s in (("F16", 38, 0.012), ("Q8_0", 38, 0.010), ("Q4_0", 33, 0.008)):
        r = lab_run(run_factory, correct=ones(k), item_s=s, lab="embeddings")
        r.backend_info = {"roles": {"embedding": {}}}
        r.model_sha256 = None
        r.cell = r.cell.model_copy(update={"threads": None, "embed_quant": quant})
        r.embed_model = EmbedModel(name="minilm-l6-v2", quant=quant, sha256=quant.lower() * 8)
        runs.append(r)
    [f] = frontiers([result_factory(runs)], ["a.json"])
    assert [p.label for p in f.points] == ["minilm-l6-v2 F16", "minilm-l6-v2 Q8_0", "minilm-l6-v2 Q4_0"]
    # Q4_0: 5 fewer right, b=5 c=0, p=0.0625 >= 0.05: not significantly worse, and the fastest
    assert f.recommended.label == "minilm-l6-v2 Q4_0" and "p=0.062 on 40 items" in f.reason
    assert all(p.decode_tok_s is None for p in f.points)


def test_to_dict_is_json(run_factory, result_factory):
    [f] = frontiers([result_factory([lab_run(run_factory, correct=ones(3), item_s=0.1)])], ["a.json"])
    data = json.loads(json.dumps(f.to_dict()))
    assert data["recommended"] == data["best"] and data["points"][0]["items"] == 40


def test_per_item_needs_one_outcome_per_item():
    assert per_item(["a", "b"], {"x": [True, False]}) == {
        "items_sha256": items_digest(["a", "b"]),
        "outcomes": {"x": [1, 0]},
    }
    with pytest.raises(ValueError, match="1 outcomes for 2 items"):
        per_item(["a", "b"], {"x": [True]})


def test_outcomes_that_disagree_with_the_criterion_are_not_kept():
    from harness.bench.cell import item_outcomes

    report = {
        "criteria": [{"name": "acc", "value": 0.5}],
        "metrics": {"per_item": per_item(["a", "b"], {"acc": [True, True]})},
    }
    got, note = item_outcomes(report, "acc")
    assert got is None and "disagree" in note
    report["criteria"][0]["value"] = 1.0
    got, note = item_outcomes(report, "acc")
    assert got.correct == [1, 1] and note is None
    assert item_outcomes(report, None)[1].startswith("the lab declares no frontier criterion")


def test_compare_cli_recommends_in_terminal_json_and_markdown(tmp_path, run_factory, result_factory):
    from typer.testing import CliRunner

    from harness.bench.io import write_result
    from harness.cli.app import app

    path = tmp_path / "r.json"
    write_result(
        path,
        result_factory(
            [
                lab_run(run_factory, correct=ones(12), item_s=0.9, model="gemma3-270m"),
                lab_run(run_factory, correct=ones(10), item_s=0.3),
            ]
        ),
    )
    r = CliRunner().invoke(app, ["compare", str(path), "--recommend", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["frontier"][0]["recommended"] == "smollm2-135m"
    r = CliRunner().invoke(app, ["compare", str(path), "--recommend", "--markdown"])
    assert "**recommend smollm2-135m: 0.25 vs best 0.3" in r.stdout
    r = CliRunner().invoke(app, ["compare", str(path), "--recommend"])
    assert re.search(r"rag: recommend smollm2-135m: 0\.25 vs best 0\.3", " ".join(r.stdout.split()))


def test_the_html_report_plots_each_lab_frontier_and_escapes_labels(run_factory, result_factory):
    from harness.bench.compare import compare
    from harness.bench.report import render_html

    evil = "<script>alert(1)</script>$x$"
    runs = [
        lab_run(run_factory, correct=ones(12), item_s=0.9, model=evil),
        lab_run(run_factory, correct=ones(10), item_s=0.3),
        lab_run(run_factory, correct=ones(9), item_s=0.5, model="gemma3-270m"),
    ]  # dominated: less accurate, slower
    res = result_factory(runs)
    page = render_html(compare([res], ["a.json"]), [res])
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    section = page.split("Accuracy vs speed: the frontier")[1].split("<h2>")[0]
    assert len(re.findall(r"src='data:image/png;base64,", section)) == 1  # one lab, one figure (two plots)
    assert "recommend smollm2-135m: 0.25 vs best 0.3" in section and "dominated" in section


def test_decode_comes_from_a_throughput_cell_of_the_same_machine_in_another_file(run_factory, result_factory):
    lab = lab_run(run_factory, correct=ones(10), item_s=0.5, threads=2)
    lab.lab.latency.pop("decode_tok_s", None)
    tp_file, lab_file = result_factory([run_factory(threads=2, tg=77.0)]), result_factory([lab])
    [f] = frontiers([lab_file, tp_file], ["labs.json", "tp.json"])
    assert f.points[0].decode_tok_s == pytest.approx(77.0) and f.points[0].decode_source == "throughput cell"
    elsewhere = result_factory([run_factory(threads=2, tg=77.0, system="sys-other")])
    elsewhere.systems = {"sys-other": elsewhere.systems["sys-test"]}
    [f] = frontiers([lab_file, elsewhere], ["labs.json", "tp.json"])
    assert f.points[0].decode_tok_s is None  # another machine's speed is not this configuration's
