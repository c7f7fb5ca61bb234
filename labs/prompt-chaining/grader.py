"""Grader of prompt-chaining: a chain of small steps against one prompt, on one-operation SVAMP problems.

SmolLM2-135M cannot do the arithmetic of a word problem, even a one-step one: asked for the answer
as a JSON number it gets almost none right. Cut down to what it can do (pick one of a few
expressions that Python wrote from the problem's numbers) it gets a fair share right. So:

- safe_eval on every SVAMP Equation of the file ("( 76.0 - 25.0 )" -> its Answer): exact?
- safe_eval on hostile strings: all refused, and eval/exec/compile never called?
- extract_numbers + candidate_expressions on every one-operation problem (no model): is the gold
  expression among the candidates, and is every candidate "a op b" of two of the extracted numbers?
- solve_chain on the seeded items, with each step recorded: did it run every step, did the model
  only choose (one of the candidates, under a schema) and Python compute?
- solve_single on the same items: the model's own number?
- the chain against the single prompt on the same items: accuracy of each, a 95% paired-bootstrap
  interval of the difference, and an exact McNemar test.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import numbers
import operator
import random
import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from harness.grading.metrics import extract_numbers as numbers_in_text
from harness.grading.stats import mcnemar_exact, p50, p95, paired_bootstrap
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement, timed
from harness.labs.recording import RecordingLLM


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_items: int = 60
    question_seed: int = 0
    file: str = "given.json"  # under labs/_data/svamp/


SVAMP_FORMAT = (
    'a JSON list of SVAMP problems: {"ID", "Body", "Question", "Equation" (e.g. "( 76.0 - 25.0 )"), '
    '"Answer" (a number)}'
)
STEPS = ("extract_numbers", "candidate_expressions", "choose_expression", "safe_eval")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_OPS = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
}

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


# ---------------------------------------------------------------------------------------- data


def svamp_path(ctx: LabContext) -> Path:
    return ctx.lab_dir.parent / "_data" / "svamp" / ctx.settings.file


def load_problems(path: Path) -> list[dict]:
    """SVAMP's records as {"id", "body", "question", "equation", "answer"}."""
    name = Path(path).name
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LearnerError(f"cannot read the dataset {name}: {e}") from None
    if not isinstance(data, list) or not data:
        raise LearnerError(f"{name} is not {SVAMP_FORMAT}")
    rows = []
    for i, r in enumerate(data):
        ok = (
            isinstance(r, dict)
            and all(isinstance(r.get(k), str) for k in ("Body", "Question", "Equation"))
            and isinstance(r.get("Answer"), (int, float))
            and not isinstance(r.get("Answer"), bool)
        )
        if not ok:
            raise LearnerError(f"{name}, record {i}: not a SVAMP problem; the file must be {SVAMP_FORMAT}")
        rows.append(
            {
                "id": str(r.get("ID", i)),
                "body": r["Body"].strip(),
                "question": r["Question"].strip(),
                "equation": r["Equation"],
                "answer": float(r["Answer"]),
            }
        )
    return rows


def _tree(equation: str):
    """The grader's own reading of an arithmetic string: numbers and + - * / only, else None."""
    try:
        node = ast.parse(equation.strip(), mode="eval").body
    except SyntaxError:
        return None

    def ok(n) -> bool:
        if isinstance(n, ast.Constant):
            return type(n.value) in (int, float)
        return isinstance(n, ast.BinOp) and type(n.op) in _OPS and ok(n.left) and ok(n.right)

    return node if ok(node) else None


def gold_value(equation: str) -> float | None:
    def value(n) -> float:
        if isinstance(n, ast.Constant):
            return float(n.value)
        left, right = value(n.left), value(n.right)
        if isinstance(n.op, ast.Div) and right == 0:
            raise ZeroDivisionError
        return _OPS[type(n.op)][1](left, right)

    node = _tree(equation)
    try:
        return value(node) if node is not None else None
    except ZeroDivisionError:
        return None


def one_step(expression: str) -> tuple[str, float, float] | None:
    """("-", 76.0, 25.0) for "( 76.0 - 25.0 )" or "76 - 25"; None unless it is exactly one operation on two numbers."""
    node = _tree(expression)
    if isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant):
        return _OPS[type(node.op)][0], float(node.left.value), float(node.right.value)
    return None


def one_operation(problems: list[dict]) -> list[dict]:
    return [p for p in problems if one_step(p["equation"]) is not None]


def same_step(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
    """The same operation on the same numbers (either order for + and *)."""
    if a[0] != b[0]:
        return False
    return a[1:] == b[1:] or (a[0] in "+*" and a[1:] == b[2:0:-1])


def always_subtract(body: str) -> float | None:
    """A rule with no model, reported beside the chain: the larger of the body's first two numbers
    minus the smaller (most one-step SVAMP problems are subtractions)."""
    found = list(dict.fromkeys(float(m) for m in _DIGITS.findall(body)))
    return abs(found[0] - found[1]) if len(found) >= 2 else None


def pick_items(problems: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded shuffle; --limit takes a prefix of the default items."""
    order = list(problems)
    random.Random(seed).shuffle(order)
    return order[:n]


# ------------------------------------------------------------------------------------- evaluator


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


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_evaluator(solution, problems: list[dict]) -> tuple[dict, dict, list[str]]:
    values, metrics, notes = {}, {}, []
    golds, skipped = [], []
    for p in problems:  # a record whose Answer is not its Equation's value is an upstream slip
        v = gold_value(p["equation"])
        (golds if v is not None and math.isclose(v, p["answer"], rel_tol=1e-9, abs_tol=1e-9) else skipped).append(p)
    dynamic: list[str] = []
    exact, wrong, accepted = 0, [], []
    with no_dynamic_code(dynamic):
        for p in golds:
            try:
                got = solution.safe_eval(p["equation"])
                ok = _is_number(got) and math.isclose(float(got), p["answer"], rel_tol=1e-6, abs_tol=1e-6)
            except NotImplementedError:
                raise
            except Exception as e:  # an honest evaluator may not raise on gold expressions
                ok, got = False, f"{type(e).__name__}: {e}"
            exact += ok
            if not ok and len(wrong) < 3:
                wrong.append(f"{p['equation']} -> {got!r} (gold {p['answer']:g})")
        rejected = 0
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
    metrics["gold_equations"] = len(golds)
    if skipped:
        metrics["equations_skipped"] = [p["id"] for p in skipped]
        notes.append(
            f"{len(skipped)} record(s) whose Answer is not the value of their Equation (upstream slips) "
            f"are left out of evaluator_exact: {', '.join(p['id'] for p in skipped[:5])}"
        )
    if wrong:
        notes.append("safe_eval got gold expressions wrong, e.g. " + "; ".join(wrong))
    if dynamic:
        notes.append(f"safe_eval called {sorted(set(dynamic))}: parse with ast and walk the tree instead")
    if accepted:
        notes.append("safe_eval accepted: " + ", ".join(repr(a) for a in accepted[:4]))
    return values, metrics, notes


# ------------------------------------------------------------------------------------ candidates


def candidates_of(solution, body: str) -> tuple[list[float], list[str]]:
    """The learner's numbers and candidates for one body, checked: numbers, then strings that are
    each one operation on two of those numbers."""
    nums = solution.extract_numbers(body)
    if not isinstance(nums, (list, tuple)) or not all(_is_number(x) for x in nums):
        raise LearnerError(f"extract_numbers must return a list of numbers, got {nums!r:.120}")
    nums = [float(x) for x in nums]
    cands = solution.candidate_expressions(list(nums))
    if not isinstance(cands, (list, tuple)) or not all(isinstance(c, str) for c in cands):
        raise LearnerError(f"candidate_expressions must return a list of strings, got {cands!r:.120}")
    for c in cands:
        step = one_step(c)
        if step is None or not all(any(math.isclose(x, n) for n in nums) for x in step[1:]):
            raise LearnerError(
                f"candidate_expressions must return expressions 'a op b' (op one of + - * /) of two "
                f"of the numbers it was given, {[f'{n:g}' for n in nums]}; got {c!r}"
            )
    return nums, list(cands)


def check_candidates(solution, problems: list[dict]) -> tuple[float, dict[str, list[str]]]:
    covered, by_id = 0, {}
    for p in problems:
        _, cands = candidates_of(solution, p["body"])
        gold = one_step(p["equation"])
        covered += any(same_step(one_step(c), gold) for c in cands)
        by_id[p["id"]] = cands
    return covered / len(problems), by_id


# ---------------------------------------------------------------------------------------- chain


@contextmanager
def recording_steps(solve_chain, llm: RecordingLLM):
    """Each step's calls during solve_chain: its arguments, what it returned, and how many model
    calls (with a schema or not) happened inside it. The steps are replaced in the globals of the
    module that defines solve_chain (where its code looks them up) and put back afterwards."""
    g = getattr(solve_chain, "__globals__", None)
    calls: dict[str, list[dict]] = {name: [] for name in STEPS}
    saved = {name: g[name] for name in STEPS if g is not None and callable(g.get(name))}

    def wrap(name, fn):
        def step(*args, **kwargs):
            before = len(llm.schemas)
            out = fn(*args, **kwargs)
            calls[name].append(
                {
                    "args": args,
                    "kwargs": kwargs,
                    "out": out,
                    "model_calls": len(llm.schemas) - before,
                    "schema_calls": sum(llm.schemas[before:]),
                }
            )
            return out

        return step

    for name, fn in saved.items():
        g[name] = wrap(name, fn)
    try:
        yield calls
    finally:
        for name, fn in saved.items():
            g[name] = fn


def _arg(call: dict, index: int, name: str):
    return call["args"][index] if len(call["args"]) > index else call["kwargs"].get(name)


def chain_steps_ok(calls: dict[str, list[dict]], answer, model_calls: int) -> str | None:
    """None when solve_chain ran every step and the model only chose; else what went wrong."""
    missing = [s for s in ("extract_numbers", "candidate_expressions") if not calls[s]]
    if missing:
        return f"solve_chain did not call {', '.join(missing)}"
    cands = calls["candidate_expressions"][-1]["out"]
    if not cands:
        return None if answer is None and model_calls == 0 else "no candidates, yet an answer or a model call"
    if not calls["choose_expression"]:
        return "solve_chain did not call choose_expression"
    choice = calls["choose_expression"][-1]
    if choice["out"] not in cands:
        return f"choose_expression returned {choice['out']!r:.60}, which is not one of the candidates"
    if choice["model_calls"] == 0:
        return "choose_expression did not ask the model"
    if choice["schema_calls"] == 0:
        return "choose_expression called the model without a schema"
    if not calls["safe_eval"]:
        return "solve_chain did not call safe_eval"
    if model_calls != sum(c["model_calls"] for c in calls["choose_expression"]):
        return "solve_chain called the model outside choose_expression (the model must only choose)"
    last = calls["safe_eval"][-1]
    if _arg(last, 0, "expression") != choice["out"]:
        return "safe_eval was not given the chosen expression"
    if not _is_number(answer) or not _is_number(last["out"]) or not math.isclose(answer, last["out"]):
        return "solve_chain did not return what safe_eval computed"
    return None


def _answer(x, fn: str):
    if x is not None and not _is_number(x):
        raise LearnerError(f"{fn} must return a number (or None), got {type(x).__name__}")
    return None if x is None else float(x)


def _right(x, gold: float) -> bool:
    return x is not None and math.isclose(x, gold, rel_tol=1e-6, abs_tol=1e-6)


def single_from_model(answer, replies: list[str], schemas: list[bool]) -> bool:
    """solve_single asked the model under a schema, and returned the number it wrote (None only
    when it wrote none)."""
    found = [x for r in replies for x in numbers_in_text(r)]
    if not any(schemas):
        return False
    return not found if answer is None else any(math.isclose(answer, x, rel_tol=1e-9) for x in found)


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.settings
    path = ctx.dataset_path or svamp_path(ctx)
    problems = load_problems(path)
    pool = one_operation(problems)
    if not pool:
        raise LearnerError(f'{Path(path).name} has no one-operation problem (an Equation like "( 76.0 - 25.0 )")')

    values, metrics, notes = check_evaluator(solution, problems)
    values["candidate_coverage"], candidates = check_candidates(solution, pool)

    items = pick_items(pool, ctx.item_limit(cfg.n_items), cfg.question_seed)
    llm = RecordingLLM(ctx.llm)  # loaded here, so that no item's latency includes the model load
    latencies: list[float] = []
    rows, failures = [], Counter()
    for i, p in enumerate(items):
        ctx.progress(i, len(items), "problem")
        before = len(llm.schemas)
        with recording_steps(solution.solve_chain, llm) as calls, timed(latencies):
            raw = solution.solve_chain(llm, p["body"], p["question"])
        chain = _answer(raw, "solve_chain")
        problem = chain_steps_ok(calls, chain, len(llm.schemas) - before)
        if problem:
            failures[problem] += 1
        chosen = calls["choose_expression"][-1]["out"] if calls["choose_expression"] else None

        before = len(llm.replies)
        single = _answer(solution.solve_single(llm, p["body"], p["question"]), "solve_single")
        own = single_from_model(single, llm.replies[before:], llm.schemas[before:])

        cands = candidates[p["id"]]
        gold = one_step(p["equation"])
        rows.append(
            {
                "id": p["id"],
                "body": p["body"][:200],
                "question": p["question"],
                "equation": p["equation"],
                "answer": p["answer"],
                "candidates": len(cands),
                "chosen": chosen if isinstance(chosen, str) else repr(chosen),
                "chain": chain,
                "single": single,
                "chain_right": _right(chain, p["answer"]),
                "single_right": _right(single, p["answer"]),
                "steps_ok": problem is None,
                "steps_problem": problem,
                "single_from_model": own,
                "gold_in_candidates": any(same_step(one_step(c), gold) for c in cands),
                # what a uniformly random pick among the candidates would get right, on average
                "chance": (sum(_right(gold_value(c), p["answer"]) for c in cands) / len(cands)) if cands else 0.0,
                "always_subtract_right": _right(always_subtract(p["body"]), p["answer"]),
                "chosen_op": (one_step(chosen) or ("?",))[0] if isinstance(chosen, str) else None,
                "gold_op": gold[0],
            }
        )
    ctx.progress(len(items), len(items), "problem")

    n = len(rows)
    chain_ok = [r["chain_right"] for r in rows]
    single_ok = [r["single_right"] for r in rows]
    boot = paired_bootstrap([float(x) for x in single_ok], [float(x) for x in chain_ok], seed=ctx.seed)
    mcn = mcnemar_exact(single_ok, chain_ok)
    values.update(
        {
            "chain_steps_used": sum(r["steps_ok"] for r in rows) / n,
            "single_answer_from_model": sum(r["single_from_model"] for r in rows) / n,
            "chain_accuracy": sum(chain_ok) / n,
            "chain_minus_single_ci_low": boot.ci_low,
            "chain_vs_single_mcnemar_p": mcn.p_value,
        }
    )
    covered = [r for r in rows if r["gold_in_candidates"]]
    metrics.update(
        {
            "dataset": Path(path).name,
            "problems": len(problems),
            "one_operation_problems": len(pool),
            "items": n,
            "chain_accuracy": values["chain_accuracy"],
            "single_accuracy": sum(single_ok) / n,
            "chain_vs_single": boot.to_dict(),
            "mcnemar": mcn.to_dict(),
            "random_choice_accuracy": sum(r["chance"] for r in rows) / n,
            "always_subtract_accuracy": sum(r["always_subtract_right"] for r in rows) / n,
            "chain_accuracy_when_gold_in_candidates": (sum(r["chain_right"] for r in covered) / len(covered))
            if covered
            else None,
            "mean_candidates": sum(r["candidates"] for r in rows) / n,
            "chosen_operations": dict(Counter(r["chosen_op"] for r in rows if r["chosen_op"])),
            "gold_operations": dict(Counter(r["gold_op"] for r in rows)),
        }
    )
    notes.append(
        f"{n} one-operation problems: chain {sum(chain_ok)}/{n} right, single prompt {sum(single_ok)}/{n} (same "
        f"model, same problems): difference {boot.delta:+.3f}, 95% interval [{boot.ci_low:+.3f}, {boot.ci_high:+.3f}], "
        f"McNemar b={mcn.b} (single right, chain wrong) c={mcn.c} (chain right, single wrong) p={mcn.p_value:.2g}."
    )
    notes.append(
        f"A random pick among the candidates would get {metrics['random_choice_accuracy']:.3f} right, a rule with no "
        f"model (the larger of the first two numbers minus the smaller) {metrics['always_subtract_accuracy']:.3f}; the gold "
        f"expression was among them on {len(covered)}/{n} problems. Operations chosen {metrics['chosen_operations']}, "
        f"gold {metrics['gold_operations']}."
    )
    if failures:
        top, count = failures.most_common(1)[0]
        notes.append(
            f"chain_steps_used: {sum(failures.values())} problem(s) failed the step check, most often: {top} ({count}x)"
        )
    timings = {"item_p50_s": round(p50(latencies), 3), "item_p95_s": round(p95(latencies), 3)}
    return Measurement(values=values, metrics=metrics, samples=rows, notes=notes, timings=timings)
