"""Grader of the dspy lab.

The grader owns the LM: it wraps the lab's model in the harness DSPy adapter (DSPy's engine
interface, JSONAdapter, schema-constrained decoding), so parse failures and per-call timings are
counted here, whatever the learner writes. Then, on PubMedQA (question + conclusion -> yes/no/maybe):

1. the learner's unoptimized program is evaluated with dspy.Evaluate on the test questions;
2. the learner's `optimize` compiles a fresh program on the training questions;
3. it is saved with `save_program`, checked to be JSON with demos, reloaded with `load_program`;
4. the RELOADED program is evaluated on the same test questions;
5. the two are compared per question (paired): accuracy gain and an exact McNemar test.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from harness.backends.dspy_adapter import dspy_lm, import_dspy
from harness.grading.stats import mcnemar_exact, p50, p95
from harness.labs.api import LabContext, LearnerError, Measurement

LABELS = ("yes", "no", "maybe")


def load_examples(ctx: LabContext) -> list[dict]:
    path = ctx.dataset_path or (ctx.lab_dir.parent / "_data" / "pubmedqa" / "dev.json")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    for pmid in sorted(data):
        rec = data[pmid]
        if rec.get("final_decision") not in LABELS or not rec.get("LONG_ANSWER") or not rec.get("QUESTION"):
            raise ValueError(f"{Path(path).name}: {pmid} needs QUESTION, LONG_ANSWER and final_decision (PubMedQA format)")
        rows.append({"pmid": pmid, "question": rec["QUESTION"], "conclusion": rec["LONG_ANSWER"],
                     "answer": rec["final_decision"]})
    random.Random(ctx.seed).shuffle(rows)
    return rows


def _demos(program) -> int:
    return sum(len(getattr(p, "demos", []) or []) for p in program.predictors())


def _check_module(dspy, program, func: str):
    if not isinstance(program, dspy.Module):
        raise LearnerError(f"{func} returned {type(program).__name__}; it must return a dspy.Module")
    return program


def grade(solution, ctx: LabContext) -> Measurement:
    dspy = import_dspy()
    cfg = ctx.config
    harness_lm = dspy_lm(ctx.llm, max_tokens=int(cfg.get("max_tokens", 24)))
    harness_lm.configure()
    stats = harness_lm.stats

    rows = load_examples(ctx)
    n_train = int(cfg.get("n_train", 24))
    n_test = ctx.item_limit(int(cfg.get("n_test", 60)))
    if len(rows) < n_train + n_test:
        n_test = max(0, len(rows) - n_train)
    if n_test < 1:
        raise ValueError(f"the dataset has {len(rows)} questions; the lab needs more than {n_train}")

    def example(r):
        return dspy.Example(question=r["question"], conclusion=r["conclusion"], answer=r["answer"]).with_inputs(
            "question", "conclusion")

    trainset = [example(r) for r in rows[:n_train]]
    testset = [example(r) for r in rows[n_train:n_train + n_test]]

    def right(ex, pred, trace=None):  # the grader's own metric: exact label
        return getattr(pred, "answer", None) == ex.answer

    evaluate = dspy.Evaluate(devset=testset, metric=right, num_threads=1, display_progress=False,
                             max_errors=len(testset) + 1, provide_traceback=False)

    def run(program, name):
        before = len(stats.calls)
        result = evaluate(program)
        outcomes = [bool(score) for _, _, score in result.results]
        times = [c.timings.get("total_s") or 0.0 for c in stats.calls[before:]]
        preds = [getattr(p, "answer", None) for _, p, _ in result.results]
        return outcomes, preds, times

    baseline = _check_module(dspy, solution.build_program(), "build_program")
    base_ok, base_preds, base_times = run(baseline, "baseline")

    # The learner's metric must agree with the grader's on a few known cases.
    probe = testset[0]
    good, bad = dspy.Prediction(answer=probe.answer), dspy.Prediction(answer=next(x for x in LABELS if x != probe.answer))
    if not solution.metric(probe, good) or solution.metric(probe, bad):
        raise LearnerError("metric(example, prediction) must be True when prediction.answer == example.answer, else False")

    optimized = _check_module(dspy, solution.optimize(solution.build_program(), list(trainset)), "optimize")
    demos_compiled = _demos(optimized)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "program.json"
        solution.save_program(optimized, path)
        if not path.is_file():
            raise LearnerError(f"save_program did not write {path.name}; save to the path you are given")
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            saved_json = 1.0
        except ValueError:
            saved, saved_json = None, 0.0
        reloaded = _check_module(dspy, solution.load_program(path), "load_program")
    demos_reloaded = _demos(reloaded)
    opt_ok, opt_preds, opt_times = run(reloaded, "optimized")

    n = len(testset)
    test = mcnemar_exact(base_ok, opt_ok)
    base_acc, opt_acc = sum(base_ok) / n, sum(opt_ok) / n
    summary = stats.summary()
    notes = [f"Optimized (reloaded) {sum(opt_ok)}/{n} vs unoptimized {sum(base_ok)}/{n} on the same questions; "
             f"McNemar exact p = {test.p_value:.3f} ({test.c} questions only the optimized got right, "
             f"{test.b} only the baseline)."]
    if demos_compiled and not demos_reloaded:
        notes.append("the compiled program had demos but the reloaded one has none: save_program must save them "
                     "(program.save('x.json')) and load_program must load them into a fresh program")
    samples = [{"question": ex.question[:120], "gold": ex.answer, "baseline": b, "optimized": o}
               for ex, b, o in zip(testset, base_preds, opt_preds)]
    return Measurement(
        values={
            "parse_failure_rate": summary["parse_failure_rate"] if summary["parses"] else 1.0,
            "saved_as_json": saved_json if isinstance(saved, dict) else 0.0,
            "demos_after_reload": float(demos_reloaded),
            "accuracy_gain": opt_acc - base_acc,
            "mcnemar_p": test.p_value,
        },
        metrics={
            "test_questions": n, "train_questions": len(trainset),
            "baseline_accuracy": base_acc, "optimized_accuracy": opt_acc,
            "mcnemar": test.to_dict(), "demos_compiled": demos_compiled,
            "adapter": summary,
            "baseline_label_counts": {k: base_preds.count(k) for k in LABELS},
            "optimized_label_counts": {k: opt_preds.count(k) for k in LABELS},
        },
        timings={
            "item_p50_s": p50(base_times + opt_times) if base_times + opt_times else None,
            "item_p95_s": p95(base_times + opt_times) if base_times + opt_times else None,
            "baseline_p50_s": p50(base_times) if base_times else None,
            "optimized_p50_s": p50(opt_times) if opt_times else None,
            "tokens_in": summary["prompt_tokens"], "tokens_out": summary["completion_tokens"],
        },
        samples=samples,
        notes=notes,
    )
