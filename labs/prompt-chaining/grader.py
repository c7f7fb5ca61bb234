"""Grader of prompt-chaining.

SmolLM2-135M solves about 1% of GSM8K, so final accuracy cannot tell a chain from a single
prompt on the default model. Each step is therefore checked on its own, on real data:

- safe_eval on the gold calculator annotations of GSM8K (`<<48/2=24>>`): exact?
- safe_eval on hostile strings: all rejected, and eval/exec/compile never called?
- format_answer on the gold answers: written the GSM8K way?
- write_expression on the easiest real problems (one calculation): parse rate of what the model wrote;
- solve_chain: every step ran for every problem;
and the chain's accuracy is compared with solve_single's on the same problems in the same run
(shown, with an exact McNemar test; a figure for bigger models, not a criterion here).
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from contextlib import contextmanager
from pathlib import Path

from harness.grading.metrics import numeric_match
from harness.grading.stats import mcnemar_exact, p50, p95
from harness.labs.api import LabContext, LearnerError, Measurement, timed

ANNOTATION_RE = re.compile(r"<<([^=<>]+)=([^<>]+)>>")

# Each must be refused (an exception) without executing anything.
HOSTILE = [
    "__import__('os').system('echo pwned')",
    "().__class__.__mro__[1].__subclasses__()",
    "(1).__class__",
    "open('/etc/passwd').read()",
    "x + 1",
    "2 ** 1000000000",
    "[1, 2, 3]",
    "'ab' * 3",
    "lambda: 1",
    "1; 2",
    "exec('1')",
    "1 if True else 2",
]


def load_problems(ctx: LabContext) -> list[dict]:
    path = ctx.dataset_path or (ctx.lab_dir.parent / "_data" / "gsm8k" / ctx.config.get("file", "train_onestep.jsonl"))
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("question"), str) or "####" not in str(row.get("answer", "")):
            raise ValueError(f"{Path(path).name} line {i}: a GSM8K line needs 'question' and an 'answer' with '#### N'")
        gold = row["answer"].split("####")[-1].strip().replace(",", "")
        annotations = [(e.strip(), r.strip()) for e, r in ANNOTATION_RE.findall(row["answer"])]
        rows.append({"question": row["question"], "gold": gold, "annotations": annotations})
    return rows


@contextmanager
def no_dynamic_code(used: list[str]):
    """Replace eval/exec/compile for the duration: a call is recorded and refused."""
    saved = {name: getattr(builtins, name) for name in ("eval", "exec", "compile")}

    def refuse(name):
        def f(*args, **kwargs):
            flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
            if name == "compile" and flags & ast.PyCF_ONLY_AST:
                return saved["compile"](*args, **kwargs)  # ast.parse: parsing only, nothing runs
            used.append(name)
            raise RuntimeError(f"{name}() is not allowed in this lab")
        return f

    for name in saved:
        setattr(builtins, name, refuse(name))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(builtins, name, fn)


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?", text))


def grade(solution, ctx: LabContext) -> Measurement:
    rows = load_problems(ctx)
    values, metrics, notes = {}, {}, []

    # Step 2 on its own: the gold calculator annotations (all of them: no model needed).
    golds = [(e, r) for row in rows for e, r in row["annotations"]]
    dynamic: list[str] = []
    exact = 0
    wrong_examples = []
    with no_dynamic_code(dynamic):
        for expr, result in golds:
            try:
                got = solution.safe_eval(expr)
                ok = numeric_match(got, result, rel_tol=1e-6, abs_tol=1e-6)
            except NotImplementedError:
                raise
            except Exception as e:  # an honest evaluator may not raise on gold expressions
                ok, got = False, f"{type(e).__name__}: {e}"
            exact += ok
            if not ok and len(wrong_examples) < 3:
                wrong_examples.append(f"{expr} -> {got!r} (gold {result})")
        rejected = 0
        accepted = []
        for bad in HOSTILE:
            try:
                solution.safe_eval(bad)
                accepted.append(bad)
            except NotImplementedError:
                raise
            except Exception:
                rejected += 1
    values["evaluator_exact"] = exact / len(golds) if golds else 0.0
    values["evaluator_safe"] = 0.0 if dynamic else rejected / len(HOSTILE)
    metrics["gold_expressions"] = len(golds)
    if wrong_examples:
        notes.append("safe_eval got gold expressions wrong, e.g. " + "; ".join(wrong_examples))
    if dynamic:
        notes.append(f"safe_eval called {sorted(set(dynamic))}: parse with ast and walk the tree instead")
    if accepted:
        notes.append("safe_eval accepted: " + ", ".join(repr(a) for a in accepted[:4]))

    # Step 3 on its own: the gold answers written back from their float value.
    formats = [row["gold"] for row in rows if _is_number(row["gold"])]
    formatted_ok = 0
    for g in formats:
        out = solution.format_answer(float(g))
        if not isinstance(out, str):
            raise LearnerError(f"format_answer returned {type(out).__name__}; it must return a str")
        formatted_ok += out == g
    values["format_exact"] = formatted_ok / len(formats) if formats else 0.0

    # Step 1 and the whole chain, on the model: the easiest real problems.
    items = rows[: ctx.item_limit(int(ctx.config.get("n_items", 30)))]
    llm = ctx.llm  # load before timing
    counts = {"write_expression": 0, "safe_eval": 0, "format_answer": 0}
    originals = {name: getattr(solution, name) for name in counts}

    written: list = []

    def counting(name):
        def f(*args, **kwargs):
            counts[name] += 1
            out = originals[name](*args, **kwargs)
            if name == "write_expression":
                written.append(out)
            return out
        return f

    latencies, samples = [], []
    parsed = chain_steps_ok = chain_numeric = 0
    chain_right, single_right = [], []
    for i, row in enumerate(items):
        ctx.progress(i, len(items), "problem")
        # The chain, with each step counted (module globals are looked up at call time), and
        # the expressions the model wrote kept, to check step 1 on its own.
        for name in counts:
            counts[name] = 0
            setattr(solution, name, counting(name))
        written.clear()
        try:
            with timed(latencies):
                answer = solution.solve_chain(llm, row["question"])
        finally:
            for name, fn in originals.items():
                setattr(solution, name, fn)
        if not isinstance(answer, str):
            raise LearnerError(f"solve_chain returned {type(answer).__name__}; it must return a str")
        expression = written[-1] if written else None
        if expression is not None and not isinstance(expression, str):
            raise LearnerError(f"write_expression returned {type(expression).__name__}; it must return a str")
        try:  # safe_eval passed the gold and hostile checks above, so it is the judge of step 1
            solution_value = originals["safe_eval"](expression) if expression is not None else None
            parsed += solution_value is not None
        except Exception:
            solution_value = None
        # A failed expression may skip formatting; every other problem runs all three steps.
        steps_ok = counts["write_expression"] >= 1 and counts["safe_eval"] >= 1 and (
            counts["format_answer"] >= 1 or solution_value is None)
        chain_steps_ok += steps_ok
        chain_numeric += _is_number(answer)
        single = solution.solve_single(llm, row["question"])
        if not isinstance(single, str):
            raise LearnerError(f"solve_single returned {type(single).__name__}; it must return a str")
        chain_right.append(_is_number(answer) and numeric_match(answer, row["gold"]))
        single_right.append(numeric_match(single, row["gold"]) if single.strip() else False)
        samples.append({"question": row["question"][:160], "gold": row["gold"], "expression": expression,
                        "gold_expression": row["annotations"][0][0] if row["annotations"] else None,
                        "chain": answer, "single": single, "steps": dict(counts)})

    n = len(items)
    values["expression_parse_rate"] = parsed / n
    values["chain_steps_used"] = chain_steps_ok / n
    values["chain_answer_is_number"] = chain_numeric / n
    test = mcnemar_exact(single_right, chain_right)
    metrics.update({
        "items": n,
        "chain_accuracy": sum(chain_right) / n,
        "single_accuracy": sum(single_right) / n,
        "mcnemar_chain_vs_single": test.to_dict(),
        "single_answer_is_number": sum(bool(s["single"]) for s in samples) / n,
    })
    notes.append(
        f"Chain accuracy {sum(chain_right)}/{n} vs single prompt {sum(single_right)}/{n} on one-step problems "
        f"(McNemar p = {test.p_value:.2f}): on a 135M model this difference is not a criterion; on bigger "
        "models run `harness check prompt-chaining --model ...` and compare.")
    return Measurement(values=values, metrics=metrics, samples=samples, notes=notes,
                       timings={"item_p50_s": p50(latencies), "item_p95_s": p95(latencies)})
