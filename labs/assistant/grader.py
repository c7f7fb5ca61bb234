"""Grader of the assistant lab: route, call a tool, answer, with a step limit and a trace.

A mixed, seeded set of one-operation SVAMP word problems (the calculator's) and SQuAD questions
(the search tool's, over the paragraphs of a few articles). Measured in one run:

- route(llm, embedder, item) against each item's source (routing accuracy);
- the tool schemas the learner declares for an item, on the grader's own good and bad arguments;
- every tool call answer() makes: it goes through the grader's wrapper of the learner's tool,
  which records the arguments (validated against the learner's schema), the result and the
  time; the learner's trace must be that record, at most max_steps calls;
- the answers: SVAMP numerically right, SQuAD the gold answer contained in the model's own short
  reply; each half against the same model answering bare (the grader's prompts), paired;
- the time per item (answer() end to end).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from pathlib import Path

from harness.grading.metrics import contains_answer, numeric_match, parse_number
from harness.grading.squad import SQUAD_FORMAT, paragraph_documents, squad_articles
from harness.grading.squad import pick_questions as squad_pick_questions
from harness.grading.stats import mcnemar_exact, p50, p95, paired_bootstrap
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement
from harness.labs.recording import RecordingLLM


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_per_tool: int  # items per tool (calculator, search)
    n_articles: int  # SQuAD articles the search tool indexes
    item_seed: int
    max_steps: int  # the step limit of one request


try:  # a dependency of dspy and litellm, so installed with the harness
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
except ImportError:  # then the small check below
    Draft202012Validator = None

TOOL_NAMES = ("calculator", "search")
OPERATOR = re.compile(r"\s[-+*/]\s")
MAX_REPLY_WORDS = 32  # a search answer is a short reply of the model, as in the rag lab
HARD_CAP_FACTOR = 4  # past max_steps * this many calls in one item, the wrapper stops the item

BARE_CALC_SYSTEM = 'Solve the math word problem. Reply with JSON: {"answer": number}.'
BARE_CALC_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "number"}},
    "required": ["answer"],
    "additionalProperties": False,
}
BARE_SEARCH_SYSTEM = "Answer the question in a few words."
BARE_MAX_TOKENS = 24  # as many as the reference's answer takes

# Arguments each tool's schema (for the probe item) must accept, and must refuse: a schema that
# lets anything through constrains nothing. The calculator's refusals include a number that is not
# in the problem, code, and text that is not one "a op b".
PROBES = {
    "calculator": {
        "item": {"id": "probe-1", "text": "Tom has 8 apples and buys 3 more. How many apples does he have now?"},
        "accept": [{"expression": "8 + 3"}, {"expression": "8 - 3"}, {"expression": "8 * 3"}],
        "refuse": [
            {},
            {"expression": 11},
            {"expression": ""},
            {"expression": "9 + 3"},
            {"expression": "8 + 3 = 11"},
            {"expression": "__import__('os').system('ls')"},
            {"expression": "The answer is 11."},
            {"expression": "8 + 3", "query": "apples"},
            {"query": "8 + 3"},
        ],
    },
    "search": {
        "item": {"id": "probe-2", "text": "Who won Super Bowl 50?"},
        "accept": [{"query": "Who won Super Bowl 50?"}],
        "refuse": [
            {},
            {"query": 5},
            {"query": ""},
            {"expression": "8 + 3"},
            {"query": "Super Bowl 50", "expression": "1 + 1"},
        ],
    },
}


class StepLimitExceeded(BaseException):
    """Raised by the grader's tool wrapper when one answer() call goes far past the step limit
    (a BaseException, so that a learner's `except Exception` cannot swallow it and loop on)."""


# ---------------------------------------------------------------- data


def _read_json(path: Path, what: str):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LearnerError(f"cannot read {what} {Path(path).name}: {e}") from None


def sources(ctx: LabContext) -> tuple[list, dict, str]:
    """(SVAMP records, SQuAD data, name): the lab's files, or those a --dataset file names.
    --dataset is a JSON file {"svamp": PATH or [records], "squad": PATH or {"data": [...]}}; a
    PATH is relative to that file."""
    data_root = ctx.lab_dir.parent / "_data"
    if ctx.dataset_path is None:
        return (
            _read_json(data_root / "svamp" / "given.json", "the SVAMP file"),
            _read_json(data_root / "squad" / "dev.json", "the SQuAD file"),
            "given",
        )
    manifest = _read_json(ctx.dataset_path, "the dataset")
    if not isinstance(manifest, dict) or not {"svamp", "squad"} <= set(manifest):
        raise LearnerError(
            f"{Path(ctx.dataset_path).name}: expected a JSON object "
            '{"svamp": "path/to/svamp.json", "squad": "path/to/squad.json"} (paths relative to it)'
        )
    base = Path(ctx.dataset_path).parent
    parts = []
    for key, what in (("svamp", "the SVAMP file"), ("squad", "the SQuAD file")):
        v = manifest[key]
        parts.append(_read_json(base / v, what) if isinstance(v, str) else v)
    return parts[0], parts[1], Path(ctx.dataset_path).name


def one_operation(records) -> list[dict]:
    """SVAMP problems whose Equation has exactly one operator, as {"text", "answer", "equation"}."""
    if not isinstance(records, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("Body"), str)
        and isinstance(r.get("Question"), str)
        and isinstance(r.get("Equation"), str)
        and isinstance(r.get("Answer"), (int, float))
        for r in records
    ):
        raise LearnerError('the SVAMP part must be a list of {"Body", "Question", "Equation", "Answer"} records')
    out = []
    for r in records:
        if len(OPERATOR.findall(f" {r['Equation']} ")) == 1:
            body = r["Body"].strip()
            if body and body[-1] not in ".?!":
                body += "."
            out.append(
                {
                    "text": f"{body} {r['Question'].strip()}",
                    "answer": float(r["Answer"]),
                    "equation": r["Equation"],
                    "source_id": str(r.get("ID", "")),
                }
            )
    return out


def squad_part(data) -> list[dict]:
    articles = squad_articles(data)
    if articles is None:
        raise LearnerError(f"the SQuAD part is not in SQuAD v1.1's format: expected {SQUAD_FORMAT}")
    return articles


documents = paragraph_documents


def pick_questions(articles: list[dict], n: int, seed: int) -> list[dict]:
    """n questions, seeded, at most one per paragraph while paragraphs last (as in the rag lab)."""
    return [
        {"text": q["question"].strip(), "answers": q["answers"], "doc": q["doc"], "source_id": q["id"]}
        for q in squad_pick_questions(articles, n, seed)
    ]


def build_items(svamp_records, squad_data, *, n_per_tool: int, n_articles: int, seed: int, limit: int | None = None):
    """The mixed items, shuffled, and the documents the search tool indexes. Each item:
    {"id", "text", "tool" (the right one), gold fields}; the learner sees only id and text.
    With a limit, the first `limit` of each tool's n_per_tool items: a part of the full set."""
    problems = one_operation(svamp_records)
    rng = random.Random(seed)
    calc = rng.sample(problems, min(n_per_tool, len(problems)))
    articles = squad_part(squad_data)[:n_articles]
    questions = pick_questions(articles, n_per_tool, seed)
    keep = n_per_tool if limit is None else limit
    items = [{**p, "tool": "calculator"} for p in calc[:keep]] + [{**q, "tool": "search"} for q in questions[:keep]]
    rng.shuffle(items)
    for i, it in enumerate(items):
        it["id"] = f"item-{i + 1:02d}"
    return items, documents(articles), len(articles)


# ---------------------------------------------------------------- schemas and the tool wrapper


def schemas_of(solution, item: dict) -> dict:
    """The learner's tool schemas for one item (what answer() sees of it: id and text)."""
    schemas = solution.tool_schemas({"id": item["id"], "text": item["text"]})
    if not isinstance(schemas, dict):
        raise LearnerError(
            f"tool_schemas() must return {{'calculator': schema, 'search': schema}}, got {type(schemas).__name__}"
        )
    return schemas


def validators_of(schemas: dict) -> dict:
    return {name: _validator(schemas.get(name)) for name in TOOL_NAMES}


def schema_checks(solution) -> tuple[float, list[str]]:
    """Share of the grader's probes that the learner's schemas classify right, and the misses."""
    misses, total, right = [], 0, 0
    for name in TOOL_NAMES:
        probe = PROBES[name]
        check = validators_of(schemas_of(solution, probe["item"]))[name]
        for verdict in ("accept", "refuse"):
            for args in probe[verdict]:
                total += 1
                ok = check is not None and check(args) == (verdict == "accept")
                right += ok
                if not ok:
                    misses.append(
                        f"{name} should {verdict} {json.dumps(args)}"
                        + ("" if check else " (its schema is missing, or not a JSON schema of type object)")
                    )
    return right / total, misses


def _validator(schema):
    """A function args -> bool for a JSON schema (type object), or None when there is none."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    if Draft202012Validator is not None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError:
            return None
        v = Draft202012Validator(schema)
        return lambda args: v.is_valid(args)
    return lambda args: _small_check(schema, args)


def _small_check(schema: dict, args) -> bool:
    """Enough of JSON Schema for a tool's arguments: an object, required and extra keys, string
    lengths, pattern, enum."""
    if not isinstance(args, dict):
        return False
    props = schema.get("properties", {})
    if any(k not in args for k in schema.get("required", [])):
        return False
    if schema.get("additionalProperties") is False and any(k not in props for k in args):
        return False
    for k, v in args.items():
        s = props.get(k, {})
        if s.get("type") == "string":
            if not isinstance(v, str) or len(v) < s.get("minLength", 0) or len(v) > s.get("maxLength", math.inf):
                return False
            if "pattern" in s and not re.search(s["pattern"], v):
                return False
        if "enum" in s and v not in s["enum"]:
            return False
    return True


def _plain(x):
    """A JSON copy (what a tool call can carry), or None when x is not JSON data."""
    try:
        return json.loads(json.dumps(x))
    except (TypeError, ValueError):
        return None


class Tools(dict):
    """{"calculator": f(arguments), "search": f(arguments)}: the learner's tools, as answer()
    gets them. Every call is recorded: tool, arguments, valid (against the learner's schema),
    result (or error), seconds."""

    def __init__(self, impls: dict, validators: dict, hard_cap: int):
        """validators: {tool: f(arguments) -> bool}, from the learner's schemas for this item."""
        super().__init__({name: self._wrap(name, fn) for name, fn in impls.items()})
        self.validators, self.hard_cap = validators, hard_cap
        self.calls: list[dict] = []

    def _wrap(self, name, fn):
        def call(arguments):
            if len(self.calls) >= self.hard_cap:
                raise StepLimitExceeded(f"more than {self.hard_cap} tool calls in one answer()")
            args = _plain(arguments)
            check = self.validators.get(name)
            record = {
                "tool": name,
                "arguments": args if args is not None else repr(arguments)[:200],
                "valid": args is not None and check is not None and bool(check(args)),
                "result": None,
                "error": None,
                "seconds": None,
            }
            self.calls.append(record)
            t0 = time.perf_counter()
            try:
                result = fn(arguments)
            except Exception as e:
                record["error"] = f"{type(e).__name__}: {e}"[:200]
                raise
            finally:
                record["seconds"] = time.perf_counter() - t0
            record["result"] = _plain(result)
            return result

        return call


def trace_problems(trace, calls: list[dict], max_steps: int, item_s: float) -> list[str]:
    """Why the learner's trace is not the record of the calls made (empty: it is)."""
    if not isinstance(trace, list):
        return [f"the trace must be a list of steps, got {type(trace).__name__}"]
    out = []
    if not trace:
        out.append("no step: every item needs one tool call at least")
    if len(trace) > max_steps:
        out.append(f"{len(trace)} steps, more than the limit of {max_steps}")
    if len(trace) != len(calls):
        out.append(f"{len(trace)} steps in the trace, {len(calls)} tool calls made")
    for i, (step, call) in enumerate(zip(trace, calls), 1):
        if not isinstance(step, dict) or set(step) != {"tool", "arguments", "result", "seconds"}:
            out.append(f"step {i} must be {{tool, arguments, result, seconds}}")
            continue
        if step["tool"] != call["tool"]:
            out.append(f"step {i}: tool {step['tool']!r}, but {call['tool']!r} was called")
        if _plain(step["arguments"]) != call["arguments"]:
            out.append(f"step {i}: arguments differ from those of the call")
        if call["error"] is None and not _same(step["result"], call["result"]):
            out.append(f"step {i}: result differs from what the tool returned")
        if call["error"] is not None and not isinstance(step["result"], str):
            out.append(f"step {i}: the tool raised ({call['error']}); the result must be the error's text")
        s = step["seconds"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= item_s + 0.01:
            out.append(f"step {i}: seconds must be the call's time (0 to {item_s:.2f}), got {s!r}")
    return out


def _same(a, b) -> bool:
    a = _plain(a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


# ---------------------------------------------------------------- baselines and scores


def bare_calculator(llm, text: str) -> str:
    """The bare model on a word problem: the answer as a JSON number, no tool."""
    c = llm.chat(
        [{"role": "system", "content": BARE_CALC_SYSTEM}, {"role": "user", "content": text}],
        max_tokens=12,
        temperature=0.0,
        seed=0,
        schema=BARE_CALC_SCHEMA,
    )
    return c.text


def bare_search(llm, question: str) -> str:
    """The bare model on a question: closed-book, no tool."""
    c = llm.chat(
        [{"role": "system", "content": BARE_SEARCH_SYSTEM}, {"role": "user", "content": question}],
        max_tokens=BARE_MAX_TOKENS,
        temperature=0.0,
        seed=0,
    )
    return c.text


def number_in(text) -> float | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    return parse_number(text) if isinstance(text, str) else None


def is_model_reply(reply: str, replies: list[str]) -> bool:
    """A short, non-empty text that the model wrote in this call (whitespace aside)."""
    r = " ".join(reply.split())
    return bool(r) and len(r.split()) <= MAX_REPLY_WORDS and any(r in " ".join(t.split()) for t in replies)


def right(item: dict, answer, replies: list[str]) -> bool:
    if item["tool"] == "calculator":
        n = number_in(answer)
        return n is not None and numeric_match(n, item["answer"])
    return isinstance(answer, str) and is_model_reply(answer, replies) and contains_answer(answer, item["answers"])


def format_trace(trace) -> str:
    """One line per step, for the text report: tool {arguments} -> result (seconds)."""
    parts = []
    for s in trace or []:
        result = s.get("result")
        shown = (
            f"{len(result)} passages: " + " | ".join(str(p)[:40] + "..." for p in result)
            if isinstance(result, list)
            else json.dumps(result)
        )
        parts.append(
            f"{s.get('tool')} {json.dumps(s.get('arguments'))} -> {shown} ({float(s.get('seconds') or 0):.2f} s)"
        )
    return "; ".join(parts) or "no step"


# ---------------------------------------------------------------- grade


def _answer_of(out):
    if not isinstance(out, dict) or "answer" not in out or "trace" not in out:
        raise LearnerError(
            'answer() must return {"answer": ..., "trace": [...]}, got '
            + (f"keys {sorted(out)}" if isinstance(out, dict) else type(out).__name__)
        )
    return out["answer"], out["trace"]


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.settings
    max_steps = cfg.max_steps
    svamp, squad, dataset = sources(ctx)
    items, docs, n_articles = build_items(
        svamp, squad, n_per_tool=cfg.n_per_tool, limit=ctx.limit, n_articles=cfg.n_articles, seed=cfg.item_seed
    )
    progress = ctx.progress

    strict, misses = schema_checks(solution)

    embedder = ctx.embedder
    llm = RecordingLLM(ctx.llm)  # loaded here: no item's time includes the model load
    routes = []
    for it in items:
        r = solution.route(llm, embedder, {"id": it["id"], "text": it["text"]})
        if r not in TOOL_NAMES:
            raise LearnerError(f"route() must return 'calculator' or 'search', got {r!r}")
        routes.append(r)

    t0 = time.perf_counter()
    index = solution.build_index(embedder, [dict(d) for d in docs])
    index_s = time.perf_counter() - t0
    impls = {"calculator": solution.calculator, "search": lambda arguments: solution.search(embedder, index, arguments)}

    rows, latencies, all_calls = [], [], []
    for i, it in enumerate(items):
        progress(i, len(items), "item")
        tools = Tools(impls, validators_of(schemas_of(solution, it)), hard_cap=max_steps * HARD_CAP_FACTOR)
        llm.replies.clear()
        t1 = time.perf_counter()
        try:
            reply, trace = _answer_of(
                solution.answer(llm, embedder, tools, {"id": it["id"], "text": it["text"]}, max_steps)
            )
            stopped = None
        except StepLimitExceeded as e:
            reply, trace, stopped = None, None, str(e)
        item_s = time.perf_counter() - t1
        latencies.append(item_s)
        replies = list(llm.replies)
        calls = tools.calls
        all_calls.extend(calls)
        problems = [f"stopped: {stopped}"] if stopped else trace_problems(trace, calls, max_steps, item_s)
        ok = stopped is None and right(it, reply, replies)
        bare = bare_calculator(llm, it["text"]) if it["tool"] == "calculator" else bare_search(llm, it["text"])
        rows.append(
            {
                "id": it["id"],
                "text": it["text"][:300],
                "tool": it["tool"],
                "routed": routes[i],
                "gold": _num(it["answer"]) if it["tool"] == "calculator" else it["answers"][:3],
                "answer": reply if isinstance(reply, (str, int, float)) or reply is None else repr(reply)[:200],
                "right": ok,
                "bare_reply": bare[:200],
                "bare_right": right(it, bare, [bare]),
                "trace": _plain(trace) if trace is not None else None,
                "trace_ok": not problems,
                "trace_problems": problems[:5],
                "tool_calls": len(calls),
                "calls_valid": all(c["valid"] for c in calls),
                "seconds": round(item_s, 3),
                "source_id": it["source_id"],
            }
        )
    progress(len(items), len(items), "item")

    values, metrics = _values(rows, routes, items, all_calls, strict, latencies, max_steps, ctx.seed)
    metrics.update(
        {
            "dataset": dataset,
            "articles": n_articles,
            "paragraphs": len(docs),
            "max_steps": max_steps,
            "schema_misses": misses,
        }
    )
    timings = {
        "index_s": round(index_s, 3),
        "item_p50_s": round(p50(latencies), 3),
        "item_p95_s": round(p95(latencies), 3),
    }
    return Measurement(
        values=values, metrics=metrics, timings=timings, samples=rows, notes=_notes(rows, metrics, misses)
    )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _values(rows, routes, items, calls, strict, latencies, max_steps, seed):
    values: dict = {
        "routing_accuracy": sum(r == it["tool"] for r, it in zip(routes, items)) / len(items),
        "tool_schemas_strict": strict,
        "valid_tool_calls": sum(c["valid"] for c in calls) / len(calls) if calls else 0.0,
        "step_limit_kept": sum(r["tool_calls"] <= max_steps for r in rows) / len(rows),
        "trace_ok_rate": sum(r["trace_ok"] for r in rows) / len(rows),
        "latency_p95_s": p95(latencies),
    }
    metrics: dict = {"items": len(rows), "tool_calls": len(calls)}
    for tool, label in (("calculator", "calculator"), ("search", "search")):
        half = [r for r in rows if r["tool"] == tool]
        if not half:
            continue
        ours, bare = [r["right"] for r in half], [r["bare_right"] for r in half]
        boot = paired_bootstrap([float(x) for x in bare], [float(x) for x in ours], seed=seed)
        mcn = mcnemar_exact(bare, ours)
        values[f"{label}_minus_bare_ci_low"] = boot.ci_low
        values[f"{label}_vs_bare_mcnemar_p"] = mcn.p_value
        metrics[f"{label}_items"] = len(half)
        metrics[f"{label}_accuracy"] = sum(ours) / len(half)
        metrics[f"{label}_bare_accuracy"] = sum(bare) / len(half)
        metrics[f"{label}_vs_bare"] = boot.to_dict()
        metrics[f"{label}_mcnemar"] = mcn.to_dict()
        metrics[f"{label}_routing_accuracy"] = sum(r["routed"] == tool for r in half) / len(half)
    return values, metrics


def _notes(rows, metrics, misses) -> list[str]:
    notes = [
        f"{metrics['items']} items ({metrics.get('calculator_items', 0)} SVAMP word problems, "
        f"{metrics.get('search_items', 0)} SQuAD questions over {metrics['paragraphs']} paragraphs of "
        f"{metrics['articles']} articles), {metrics['tool_calls']} tool calls, at most {metrics['max_steps']} per item."
    ]
    for tool in ("calculator", "search"):
        if f"{tool}_accuracy" in metrics:
            b, m = metrics[f"{tool}_vs_bare"], metrics[f"{tool}_mcnemar"]
            notes.append(
                f"{tool} half: {metrics[f'{tool}_accuracy']:.3f} right vs {metrics[f'{tool}_bare_accuracy']:.3f} for "
                f"the bare model, difference {b['delta']:+.3f} [{b['ci_low']:+.3f}, {b['ci_high']:+.3f}], "
                f"McNemar b={m['b']} c={m['c']} p={m['p_value']:.2g}."
            )
    if misses:
        notes.append("tool schemas: " + "; ".join(misses[:4]) + ("; ..." if len(misses) > 4 else ""))
    bad = [r for r in rows if not r["trace_ok"]]
    if bad:
        notes.append(_no_brackets(f"trace of {bad[0]['id']}: " + "; ".join(bad[0]["trace_problems"][:3])))
    for tool in ("calculator", "search"):
        first = next((r for r in rows if r["tool"] == tool and r["trace"]), None)
        if first:
            notes.append(
                _no_brackets(
                    f"trace of {first['id']} ({tool}, {'right' if first['right'] else 'wrong'}): "
                    f"{format_trace(first['trace'])[:300]}"
                )
            )
    notes.append(
        "Every item's trace is in the report's samples: harness check assistant --json, "
        'each sample\'s "trace", "trace_ok" and "trace_problems".'
    )
    return notes


def _no_brackets(text: str) -> str:
    """Square brackets of the data as parentheses: the text report reads a note's [x] as markup."""
    return text.replace("[", "(").replace("]", ")")
