"""Grader of the dspy lab.

The grader owns the LM: it wraps the lab's model in the harness DSPy adapter (DSPy's engine
interface, JSONAdapter, schema-constrained decoding), so parse failures and per-call timings are
counted here, whatever the learner writes. Then, on GSM8K worked solutions (a solution without
its '#### N' line and calculator notes -> its final number):

1. the learner's unoptimized program is evaluated with dspy.Evaluate on the test solutions;
2. the learner's `optimize` compiles a fresh program on the training solutions;
3. it is saved with `save_program`, checked to be JSON with demos, reloaded with `load_program`;
4. the RELOADED program is evaluated on the same test solutions;
5. the two are compared per solution (paired): accuracy gain and an exact McNemar test.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from pathlib import Path

from harness.backends.dspy_adapter import dspy_lm, import_dspy
from harness.grading.stats import mcnemar_exact, p50, p95
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_train: int = 24
    n_test: int = 30
    max_tokens: int = 24


_CALC = re.compile(r"<<[^>]*>>")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def worked_solution(answer: str) -> str:
    """A GSM8K worked answer without its '#### N' line and its <<expr=result>> calculator notes."""
    return _CALC.sub("", answer.split("####")[0]).strip()


def read_rows(path: Path) -> list[dict]:
    """GSM8K JSONL rows -> {'solution': worked solution, 'answer': int}; only integer answers
    that the solution's text states (all of train_onestep.jsonl and test_head200.jsonl)."""
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if "####" not in rec.get("answer", ""):
            raise ValueError(f"{Path(path).name}:{n} needs an 'answer' ending in '#### N' (GSM8K format)")
        gold = rec["answer"].split("####")[-1].strip().replace(",", "")
        text = worked_solution(rec["answer"])
        if re.fullmatch(r"-?\d+", gold) and gold in [x.replace(",", "") for x in _NUMBER.findall(text)]:
            rows.append({"solution": text, "answer": int(gold)})
    return rows


def load_examples(ctx: LabContext) -> tuple[list[dict], list[dict]]:
    data = ctx.lab_dir.parent / "_data" / "gsm8k"
    train = read_rows(data / "train_onestep.jsonl")
    test = read_rows(Path(ctx.dataset_path) if ctx.dataset_path else data / "test_head200.jsonl")
    random.Random(ctx.seed).shuffle(train)
    random.Random(ctx.seed).shuffle(test)
    return train, test


def _demos(program) -> int:
    return sum(len(getattr(p, "demos", []) or []) for p in program.predictors())


def _check_module(dspy, program, func: str):
    if not isinstance(program, dspy.Module):
        raise LearnerError(f"{func} returned {type(program).__name__}; it must return a dspy.Module")
    return program


def grade(solution, ctx: LabContext) -> Measurement:
    dspy = import_dspy()
    cfg = ctx.settings
    harness_lm = dspy_lm(ctx.llm, max_tokens=cfg.max_tokens)
    harness_lm.configure()
    stats = harness_lm.stats

    train_rows, test_rows = load_examples(ctx)
    n_train = cfg.n_train
    n_test = min(ctx.item_limit(cfg.n_test), len(test_rows))
    if n_test < 1:
        raise ValueError("the test set has no usable GSM8K rows")

    def example(r):
        return dspy.Example(solution=r["solution"], answer=r["answer"]).with_inputs("solution")

    trainset = [example(r) for r in train_rows[:n_train]]
    testset = [example(r) for r in test_rows[:n_test]]

    scored = [0]

    def right(ex, pred, trace=None):  # the grader's own metric: the same number
        scored[0] += 1  # once per test item, baseline then optimized
        ctx.progress(scored[0], 2 * len(testset), "test item")
        return _as_int(getattr(pred, "answer", None)) == ex.answer

    evaluate = dspy.Evaluate(
        devset=testset,
        metric=right,
        num_threads=1,
        display_progress=False,
        max_errors=len(testset) + 1,
        provide_traceback=False,
    )

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
    good, bad = dspy.Prediction(answer=probe.answer), dspy.Prediction(answer=probe.answer + 1)
    if not solution.metric(probe, good) or solution.metric(probe, bad):
        raise LearnerError(
            "metric(example, prediction) must be True when prediction.answer == example.answer (the same number), else False"
        )

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
    notes = [
        f"Optimized (reloaded) {sum(opt_ok)}/{n} vs unoptimized {sum(base_ok)}/{n} on the same solutions; "
        f"McNemar exact p = {test.p_value:.3f} ({test.c} solutions only the optimized got right, "
        f"{test.b} only the baseline)."
    ]
    if demos_compiled and not demos_reloaded:
        notes.append(
            "the compiled program had demos but the reloaded one has none: save_program must save them "
            "(program.save('x.json')) and load_program must load them into a fresh program"
        )
    samples = [
        {"solution": ex.solution[:160], "gold": ex.answer, "baseline": b, "optimized": o}
        for ex, b, o in zip(testset, base_preds, opt_preds)
    ]
    return Measurement(
        values={
            "parse_failure_rate": summary["parse_failure_rate"] if summary["parses"] else 1.0,
            "saved_as_json": saved_json if isinstance(saved, dict) else 0.0,
            "demos_after_reload": float(demos_reloaded),
            "accuracy_gain": opt_acc - base_acc,
            "mcnemar_p": test.p_value,
        },
        metrics={
            "test_items": n,
            "train_items": len(trainset),
            "baseline_accuracy": base_acc,
            "optimized_accuracy": opt_acc,
            "mcnemar": test.to_dict(),
            "demos_compiled": demos_compiled,
            "adapter": summary,
            "baseline_first_number": _first_number_rate(testset, base_preds),
            "optimized_first_number": _first_number_rate(testset, opt_preds),
        },
        timings={
            "item_p50_s": p50(base_times + opt_times) if base_times + opt_times else None,
            "item_p95_s": p95(base_times + opt_times) if base_times + opt_times else None,
            "baseline_p50_s": p50(base_times) if base_times else None,
            "optimized_p50_s": p50(opt_times) if opt_times else None,
            "tokens_in": summary["prompt_tokens"],
            "tokens_out": summary["completion_tokens"],
        },
        samples=samples,
        notes=notes,
    )


def _as_int(value):
    try:
        return int(str(value).strip().replace(",", ""))
    except (TypeError, ValueError):
        return None


def _first_number_rate(testset, preds) -> float:
    """Share of replies that copied the solution's FIRST number when it is not the answer:
    the zero-shot habit the demos are there to change."""
    hits = total = 0
    for ex, p in zip(testset, preds):
        nums = [int(float(x.replace(",", ""))) for x in _NUMBER.findall(ex.solution)]
        if nums and nums[0] != ex.answer:
            total += 1
            hits += _as_int(p) == nums[0]
    return hits / total if total else 0.0
