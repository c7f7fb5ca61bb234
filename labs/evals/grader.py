"""Grader of the evals lab: accuracy with an interval, the majority baseline, a paired test and
an LLM judge with its agreement (Cohen's kappa), all on real outputs of the chat model made in
this run, and on fixed cases built here where the right answer is known.

What runs on the model (the grader's own prompts, so the learner cannot tune them):

- PubMedQA (yes / no / maybe under a JSON-schema enum), the same questions asked two ways:
  A = the question alone, B = the question plus the conclusion of its abstract (PubMedQA's
  LONG_ANSWER). Gold = `final_decision`.
- SQuAD v1.1, free-text replies of at most `squad_max_tokens` tokens: A = the question alone
  (closed book), B = the question plus its own paragraph (open book). Reference correctness =
  the normalised gold answer is contained in the reply (`contains_answer`).
- The learner's `judge` on every open-book SQuAD reply, through a recorder that keeps what the
  model replied to the judge, so that a judgement read out of free text is visible as such.

The learner's statistics are compared with the harness's (Wilson interval, exact McNemar,
Cohen's kappa below) on those real figures and on the fixed cases; the criteria are the share
of cases that match, within the tolerances of lab.toml's [grader] table.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.grading.metrics import contains_answer, wilson_interval
from harness.grading.squad import SQUAD_FORMAT, squad_articles
from harness.grading.stats import cohen_kappa, mcnemar_exact, p50, p95
from harness.labs.api import GraderSettings, LabContext, LearnerError, Measurement
from harness.labs.recording import RecordingLLM


class Settings(GraderSettings):
    """lab.toml's [grader] table."""

    n_pubmedqa: int = 40
    n_squad: int = 30
    squad_seed: int = 0
    squad_max_tokens: int = 24
    alpha: float = 0.05
    majority_share: float = 0.9
    interval_tolerance: float = 0.05
    p_tolerance: float = 0.01
    kappa_tolerance: float = 0.01


LABELS = ("yes", "no", "maybe")
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": list(LABELS)}},
    "required": ["answer"],
}
PUBMEDQA_SYSTEM = "You answer biomedical research questions with yes, no or maybe."
SQUAD_SYSTEM = "Answer the question in a few words."
VERDICTS = ("A is better", "B is better", "not significant")


# ---------------------------------------------------------------- data


def data_dir(ctx: LabContext) -> Path:
    return ctx.lab_dir.parent / "_data"


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LearnerError(f"cannot read the dataset {Path(path).name}: {e}") from None


def is_squad(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def pubmedqa_items(data: Any, name: str, n: int) -> list[dict]:
    """The first n questions (by pmid) of PubMedQA's upstream JSON {pmid: {QUESTION, LONG_ANSWER,
    final_decision, ...}}, as {"id", "question", "conclusion", "gold"}."""
    ok = (
        isinstance(data, dict)
        and data
        and all(
            isinstance(v, dict)
            and isinstance(v.get("QUESTION"), str)
            and isinstance(v.get("LONG_ANSWER"), str)
            and v.get("final_decision") in LABELS
            for v in data.values()
        )
    )
    if not ok:
        raise LearnerError(
            f"{name} is in neither PubMedQA's format ({{pmid: {{QUESTION, LONG_ANSWER, final_decision: "
            f"yes|no|maybe, ...}}}}) nor SQuAD v1.1's ({SQUAD_FORMAT})"
        )
    return [
        {
            "id": p,
            "question": data[p]["QUESTION"],
            "conclusion": data[p]["LONG_ANSWER"],
            "gold": data[p]["final_decision"],
        }
        for p in sorted(data)[:n]
    ]


def squad_items(data: Any, name: str, n: int, seed: int) -> list[dict]:
    """n paragraphs drawn (seeded) from a SQuAD v1.1 file, in file order, each with its first
    question: {"id", "question", "context", "gold": [answer texts]}."""
    articles = squad_articles(data)
    if articles is None:
        raise LearnerError(f"{name} is not in SQuAD v1.1's format ({SQUAD_FORMAT})")
    paragraphs = [p for article in articles for p in article["paragraphs"] if p["qas"] and p["qas"][0]["answers"]]
    if not paragraphs:
        raise LearnerError(f"{name} holds no answered SQuAD question")
    picks = sorted(random.Random(seed).sample(range(len(paragraphs)), min(n, len(paragraphs))))
    out = []
    for i in picks:
        qa = paragraphs[i]["qas"][0]
        out.append(
            {
                "id": qa.get("id", str(i)),
                "question": qa["question"],
                "context": paragraphs[i]["context"],
                "gold": list(dict.fromkeys(a["text"] for a in qa["answers"])),
            }
        )
    return out


# ---------------------------------------------------------------- the harness's own figures


def paired_verdict(a_correct: Sequence[bool], b_correct: Sequence[bool], alpha: float) -> tuple[float, str]:
    """Exact McNemar p-value and the verdict at level alpha."""
    m = mcnemar_exact(list(a_correct), list(b_correct))
    if m.p_value >= alpha or m.b == m.c:
        return m.p_value, "not significant"
    return m.p_value, "B is better" if m.c > m.b else "A is better"


def majority_labels(gold: Sequence) -> tuple[set, float]:
    """Every label with the highest count (ties: all of them) and the share it reaches."""
    counts = Counter(gold)
    top = max(counts.values())
    return {lab for lab, c in counts.items() if c == top}, top / len(gold)


def majority_flag(predictions: Sequence, gold: Sequence, share: float) -> bool:
    """The reference rule: at least `share` of the predictions are a majority label of the gold."""
    labels, _ = majority_labels(gold)
    return max(sum(p == lab for p in predictions) for lab in labels) / len(predictions) >= share


def graded_flag(predictions: Sequence, gold: Sequence, share: float) -> bool | None:
    """The flag a learner's is_majority_classifier must give; None when the gold majority is tied
    (e.g. 2 no and 2 yes under --limit): "the majority label" is then not one label."""
    if len(majority_labels(gold)[0]) > 1:
        return None
    return majority_flag(predictions, gold, share)


def parse_verdict(text: Any) -> bool | None:
    """A judge's reply that is one verdict and nothing else: "yes" / "no" (quotes and a final full
    stop allowed), or a JSON object with exactly one yes/no (or true/false) value; else None."""
    if not isinstance(text, str):
        return None
    t = text.strip()
    if t.startswith("{"):
        try:
            obj = json.loads(t)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict):
            return None
        found = [
            v
            for v in obj.values()
            if isinstance(v, bool) or (isinstance(v, str) and v.strip().lower() in ("yes", "no"))
        ]
        if len(found) != 1:
            return None
        v = found[0]
        return v if isinstance(v, bool) else v.strip().lower() == "yes"
    word = t.strip("\"'` .").lower()
    return {"yes": True, "no": False, "true": True, "false": False}.get(word)


# ---------------------------------------------------------------- fixed cases (known answers)


def _flags(n_true: int, n: int) -> list[bool]:
    return [True] * n_true + [False] * (n - n_true)


def _pairs(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return a, b


# (correct, n): small and large samples, and both ends, where a fixed-width or Wald interval is wrong.
INTERVAL_CASES = [(7, 20), (0, 20), (20, 20), (50, 100), (950, 1000)]
# Paired outcomes (both, A only, B only, neither) where an unpaired test of the two accuracies gives
# the other verdict, and one where both tests agree:
# - B fixes 10 items and breaks none: 60% -> 70% of 100, McNemar p = 0.002 (B is better),
#   two-proportion z-test p = 0.14;
# - 12 vs 24 discordant pairs: 30% -> 60% of 40, McNemar p = 0.065 (not significant), z-test p = 0.007;
# - 26 vs 14 discordant pairs: 64% -> 40% of 50, McNemar p = 0.081 (not significant), z-test p = 0.016;
# - the same items right: p = 1 either way.
PAIRED_CASES = [_pairs(60, 0, 10, 30), _pairs(0, 12, 24, 4), _pairs(6, 26, 14, 4), _pairs(30, 0, 0, 10)]
MAJORITY_CASES = [
    ["yes"] * 5 + ["no"] * 3,
    ["no"] * 7 + ["maybe"] * 2 + ["yes"],
    ["maybe", "yes", "no", "no"],
]
# (predictions, gold): one label that is the majority; one label that is NOT the majority (a constant
# classifier, but not the majority baseline); a real classifier; 95% of one label.
_GOLD = ["yes"] * 11 + ["no"] * 7 + ["maybe"] * 2
FLAG_CASES = [
    (["yes"] * 20, _GOLD),
    (["no"] * 20, _GOLD),
    (["yes"] * 9 + ["no"] * 7 + ["maybe"] * 2 + ["no", "yes"], _GOLD),
    (["yes"] * 19 + ["no"], _GOLD),
    (["yes"] * 17 + ["no"] * 3, _GOLD),
]
KAPPA_CASES = [
    ([True, True, False, False, True, False, True, False], [True, False, False, False, True, True, True, False]),
    (_flags(6, 10), _flags(6, 10)),
    ([True, False] * 5, [False, True] * 5),
    ([True] * 10, _flags(4, 10)),
    ([True] * 18 + [False] * 2, [True] * 15 + [False] * 3 + [True] * 2),
]


# ---------------------------------------------------------------- calling the learner


def _number(x, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise LearnerError(f"{what} must be a finite number, got {x!r}")
    return float(x)


def call_interval(solution, correct: list[bool]) -> tuple[float, float, float]:
    out = solution.accuracy_interval(list(correct))
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise LearnerError(f"accuracy_interval() must return (accuracy, low, high), got {out!r}")
    return tuple(_number(v, "accuracy_interval()'s values") for v in out)  # type: ignore[return-value]


def call_majority(solution, gold: list) -> tuple[Any, float]:
    out = solution.majority_baseline(list(gold))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise LearnerError(f"majority_baseline() must return (label, accuracy), got {out!r}")
    return out[0], _number(out[1], "majority_baseline()'s accuracy")


def call_flag(solution, predictions: list, gold: list) -> bool:
    out = solution.is_majority_classifier(list(predictions), list(gold))
    if not isinstance(out, bool) and type(out).__name__ != "bool_":
        raise LearnerError(f"is_majority_classifier() must return True or False, got {out!r}")
    return bool(out)


def call_paired(solution, a: list[bool], b: list[bool]) -> tuple[float, str]:
    out = solution.paired_test(list(a), list(b))
    if not isinstance(out, (tuple, list)) or len(out) != 2 or not isinstance(out[1], str):
        raise LearnerError(f"paired_test() must return (p_value, verdict), got {out!r}")
    p = _number(out[0], "paired_test()'s p-value")
    verdict = " ".join(out[1].split()).lower()
    for v in VERDICTS:
        if verdict == v.lower():
            return p, v
    raise LearnerError(f"paired_test()'s verdict must be one of {', '.join(map(repr, VERDICTS))}, got {out[1]!r}")


def call_kappa(solution, a: list[bool], b: list[bool]) -> float:
    return _number(solution.cohen_kappa(list(a), list(b)), "cohen_kappa()")


# ---------------------------------------------------------------- the model's outputs


def ask_pubmedqa(llm, item: dict, variant: str, seed: int) -> str:
    if variant == "A":
        user = f"Question: {item['question']}\nAnswer yes, no or maybe."
    else:
        user = (
            f"Conclusion of the study: {item['conclusion']}\n\nQuestion: {item['question']}\nAnswer yes, no or maybe."
        )
    c = llm.chat(
        [{"role": "system", "content": PUBMEDQA_SYSTEM}, {"role": "user", "content": user}],
        max_tokens=16,
        temperature=0.0,
        seed=seed,
        schema=ANSWER_SCHEMA,
    )
    try:
        label = json.loads(c.text)["answer"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return "invalid"
    return label if label in LABELS else "invalid"


def ask_squad(llm, item: dict, variant: str, max_tokens: int, seed: int) -> str:
    user = (
        f"Question: {item['question']}"
        if variant == "A"
        else f"Paragraph: {item['context']}\n\nQuestion: {item['question']}"
    )
    c = llm.chat(
        [{"role": "system", "content": SQUAD_SYSTEM}, {"role": "user", "content": user}],
        max_tokens=max_tokens,
        temperature=0.0,
        seed=seed,
        stop=["\n"],
    )
    return c.text.strip()


# ---------------------------------------------------------------- grade


def grade(solution, ctx: LabContext) -> Measurement:
    cfg = ctx.settings
    alpha = cfg.alpha
    share = cfg.majority_share
    tol_interval = cfg.interval_tolerance
    tol_p = cfg.p_tolerance
    tol_kappa = cfg.kappa_tolerance
    n_pub = ctx.item_limit(cfg.n_pubmedqa)
    n_squad = ctx.item_limit(cfg.n_squad)
    squad_seed = cfg.squad_seed

    pub_path, squad_path = data_dir(ctx) / "pubmedqa" / "dev.json", data_dir(ctx) / "squad" / "dev.json"
    pub_data = squad_data = None
    if ctx.dataset_path is not None:  # --dataset: a PubMedQA file or a SQuAD file replaces that part
        data = read_json(ctx.dataset_path)
        if is_squad(data):
            squad_path, squad_data = ctx.dataset_path, data
        else:
            pub_path, pub_data = ctx.dataset_path, data
    pub = pubmedqa_items(pub_data if pub_data is not None else read_json(pub_path), Path(pub_path).name, n_pub)
    # --limit keeps a prefix of the same draw, so that a limited run grades a subset of the full one.
    squad = squad_items(
        squad_data if squad_data is not None else read_json(squad_path), Path(squad_path).name, cfg.n_squad, squad_seed
    )[:n_squad]

    # The learner's statistics on the fixed cases first: no model needed, so a wrong formula shows at once.
    interval_rows: list[dict] = []
    paired_rows: list[dict] = []
    majority_rows: list[dict] = []
    flag_rows: list[dict] = []
    kappa_rows: list[dict] = []

    def check_interval(case: str, correct: list[bool]) -> None:
        k, n = sum(correct), len(correct)
        lo, hi = wilson_interval(k, n)
        acc, low, high = call_interval(solution, correct)
        ok = (
            abs(acc - k / n) <= 1e-9
            and low <= acc + 1e-9
            and acc - 1e-9 <= high
            and abs(low - lo) <= tol_interval
            and abs(high - hi) <= tol_interval
        )
        interval_rows.append(
            {"case": case, "correct": k, "n": n, "yours": [acc, low, high], "wilson": [k / n, lo, hi], "match": ok}
        )

    def check_paired(case: str, a: list[bool], b: list[bool]) -> None:
        p_ref, v_ref = paired_verdict(a, b, alpha)
        p, v = call_paired(solution, a, b)
        m = mcnemar_exact(a, b)
        paired_rows.append(
            {
                "case": case,
                "n": len(a),
                "a_correct": sum(a),
                "b_correct": sum(b),
                "a_only": m.b,
                "b_only": m.c,
                "yours": [p, v],
                "mcnemar": [p_ref, v_ref],
                "p_match": abs(p - p_ref) <= tol_p,
                "verdict_match": v == v_ref,
            }
        )

    def check_majority(case: str, gold: list) -> None:
        labels, acc_ref = majority_labels(gold)
        label, acc = call_majority(solution, gold)
        majority_rows.append(
            {
                "case": case,
                "n": len(gold),
                "yours": [label, acc],
                "majority": [sorted(map(str, labels)), acc_ref],
                "match": label in labels and abs(acc - acc_ref) <= 1e-9,
            }
        )

    def check_flag(case: str, predictions: list, gold: list) -> None:
        top, top_n = Counter(predictions).most_common(1)[0]
        ref = graded_flag(predictions, gold, share)
        if ref is None:
            flag_rows.append(
                {
                    "case": case,
                    "n": len(gold),
                    "most_common_prediction": [top, top_n],
                    "yours": None,
                    "reference": None,
                    "match": None,
                }
            )
            return
        got = call_flag(solution, predictions, gold)
        flag_rows.append(
            {
                "case": case,
                "n": len(gold),
                "most_common_prediction": [top, top_n],
                "yours": got,
                "reference": ref,
                "match": got == ref,
            }
        )

    def check_kappa(case: str, a: list[bool], b: list[bool]) -> None:
        ref = cohen_kappa(a, b)
        if ref is None:  # undefined: nothing to compare
            kappa_rows.append({"case": case, "n": len(a), "yours": None, "reference": None, "match": None})
            return
        got = call_kappa(solution, a, b)
        kappa_rows.append(
            {"case": case, "n": len(a), "yours": got, "reference": ref, "match": abs(got - ref) <= tol_kappa}
        )

    for k, n in INTERVAL_CASES:
        check_interval(f"fixed {k}/{n}", _flags(k, n))
    for gold in MAJORITY_CASES:
        check_majority(f"fixed {dict(Counter(gold))}", gold)
    for i, (pred, gold) in enumerate(FLAG_CASES):
        check_flag(f"fixed {i + 1}", pred, gold)
    for a, b in PAIRED_CASES:
        m = mcnemar_exact(a, b)
        check_paired(f"fixed n={len(a)} A {sum(a)} B {sum(b)} (A only {m.b}, B only {m.c})", a, b)
    for i, (a, b) in enumerate(KAPPA_CASES):
        check_kappa(f"fixed {i + 1}", a, b)

    llm = ctx.llm  # loaded here, so that the timings below never include the load
    total = 2 * len(pub) + 3 * len(squad)
    done = 0
    t0 = time.perf_counter()
    for item in pub:
        item["A"] = ask_pubmedqa(llm, item, "A", ctx.seed)
        item["B"] = ask_pubmedqa(llm, item, "B", ctx.seed)
        done += 2
        ctx.progress(done, total, "model call")
    pubmedqa_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for item in squad:
        for v in ("A", "B"):
            item[v] = ask_squad(llm, item, v, cfg.squad_max_tokens, ctx.seed)
            item[f"{v}_contains"] = contains_answer(item[v], item["gold"])
        done += 2
        ctx.progress(done, total, "model call")
    squad_s = time.perf_counter() - t0

    judge_latencies: list[float] = []
    t0 = time.perf_counter()
    for item in squad:
        rec = RecordingLLM(llm)
        t1 = time.perf_counter()
        out = solution.judge(rec, item["question"], list(item["gold"]), item["B"])
        judge_latencies.append(time.perf_counter() - t1)
        is_bool = isinstance(out, bool) or type(out).__name__ == "bool_"
        parsed = [parse_verdict(r) for r in rec.replies]
        item["judge"] = bool(out) if is_bool else None
        item["judge_returned"] = repr(out)[:40]
        item["judge_replies"] = [r[:120] for r in rec.replies]
        item["judge_schema_calls"] = sum(rec.schemas)
        item["judge_valid"] = bool(is_bool and rec.replies and all(p is not None for p in parsed))
        done += 1
        ctx.progress(done, total, "model call")
    judge_s = time.perf_counter() - t0

    # The learner's statistics on the model's outputs.
    pub_gold = [it["gold"] for it in pub]
    pub_ok = {v: [it[v] == it["gold"] for it in pub] for v in ("A", "B")}
    squad_ok = {v: [it[f"{v}_contains"] for it in squad] for v in ("A", "B")}
    check_interval("PubMedQA A (question alone)", pub_ok["A"])
    check_interval("PubMedQA B (question + conclusion)", pub_ok["B"])
    check_interval("SQuAD A (closed book)", squad_ok["A"])
    check_interval("SQuAD B (open book)", squad_ok["B"])
    check_majority("PubMedQA gold labels", pub_gold)
    for v in ("A", "B"):
        check_flag(f"PubMedQA {v}", [it[v] for it in pub], pub_gold)
    check_paired("PubMedQA A vs B", pub_ok["A"], pub_ok["B"])
    check_paired("SQuAD A (closed book) vs B (open book)", squad_ok["A"], squad_ok["B"])
    judged = [it for it in squad if it["judge"] is not None]
    if judged:
        check_kappa(
            "judge vs contains-the-gold-answer", [it["judge"] for it in judged], [it["B_contains"] for it in judged]
        )

    def rate(rows: list[dict], key: str = "match") -> float:
        rows = [r for r in rows if r[key] is not None]
        return sum(bool(r[key]) for r in rows) / len(rows)

    values = {
        "interval_match_rate": rate(interval_rows),
        "majority_baseline_match_rate": rate(majority_rows),
        "majority_flag_match_rate": rate(flag_rows),
        "paired_p_match_rate": rate(paired_rows, "p_match"),
        "paired_verdict_match_rate": rate(paired_rows, "verdict_match"),
        "judge_valid_rate": sum(it["judge_valid"] for it in squad) / len(squad),
        "kappa_match_rate": rate(kappa_rows),
    }

    maj_labels, maj_acc = majority_labels(pub_gold)
    acc = {
        name: wilson_row(flags)
        for name, flags in (
            ("pubmedqa_a_accuracy", pub_ok["A"]),
            ("pubmedqa_b_accuracy", pub_ok["B"]),
            ("squad_closed_book_accuracy", squad_ok["A"]),
            ("squad_open_book_accuracy", squad_ok["B"]),
        )
    }
    pub_test = paired_verdict(pub_ok["A"], pub_ok["B"], alpha)
    squad_test = paired_verdict(squad_ok["A"], squad_ok["B"], alpha)
    ref_kappa = cohen_kappa([it["judge"] for it in judged], [it["B_contains"] for it in judged]) if judged else None
    judge_agree = (sum(it["judge"] == it["B_contains"] for it in judged) / len(judged)) if judged else None
    metrics = {
        "dataset": Path(pub_path).name,
        "squad_dataset": Path(squad_path).name,
        "pubmedqa_questions": len(pub),
        "squad_questions": len(squad),
        **{k: v["value"] for k, v in acc.items()},
        "intervals": acc,
        "pubmedqa_gold_counts": dict(Counter(pub_gold)),
        "pubmedqa_answer_counts": {
            v: {lab: sum(it[v] == lab for it in pub) for lab in (*LABELS, "invalid")} for v in ("A", "B")
        },
        "majority_label": sorted(maj_labels),
        "majority_accuracy": maj_acc,
        "pubmedqa_majority_flags": {v: majority_flag([it[v] for it in pub], pub_gold, share) for v in ("A", "B")},
        "pubmedqa_a_vs_b": {"mcnemar": mcnemar_exact(pub_ok["A"], pub_ok["B"]).to_dict(), "verdict": pub_test[1]},
        "squad_a_vs_b": {"mcnemar": mcnemar_exact(squad_ok["A"], squad_ok["B"]).to_dict(), "verdict": squad_test[1]},
        "judge_says_yes": sum(bool(it["judge"]) for it in judged),
        "judge_reference_yes": sum(it["B_contains"] for it in squad),
        "judge_agreement": judge_agree,
        "judge_kappa": ref_kappa,
        "judge_calls_with_schema": sum(it["judge_schema_calls"] for it in squad),
        "judge_calls": sum(len(it["judge_replies"]) for it in squad),
        "cases": {
            "interval": interval_rows,
            "majority_baseline": majority_rows,
            "majority_flag": flag_rows,
            "paired": paired_rows,
            "kappa": kappa_rows,
        },
    }
    timings = {
        "pubmedqa_s": round(pubmedqa_s, 3),
        "squad_s": round(squad_s, 3),
        "judge_s": round(judge_s, 3),
        "item_p50_s": round(p50(judge_latencies), 3),  # items = the learner's judge() calls
        "item_p95_s": round(p95(judge_latencies), 3),
    }
    samples = [{"part": "pubmedqa", **{k: it[k] for k in ("id", "gold", "A", "B")}} for it in pub] + [
        {
            "part": "squad",
            **{
                k: it[k]
                for k in (
                    "id",
                    "question",
                    "gold",
                    "A",
                    "B",
                    "A_contains",
                    "B_contains",
                    "judge",
                    "judge_valid",
                    "judge_replies",
                )
            },
        }
        for it in squad
    ]
    notes = notes_for(values, metrics, pub, squad, share)
    return Measurement(values=values, metrics=metrics, timings=timings, samples=samples, notes=notes)


def wilson_row(flags: list[bool]) -> dict:
    k, n = sum(flags), len(flags)
    lo, hi = wilson_interval(k, n)
    return {"correct": k, "n": n, "value": k / n, "low": lo, "high": hi}


def notes_for(values: dict, m: dict, pub: list[dict], squad: list[dict], share: float) -> list[str]:
    a, b = m["intervals"]["pubmedqa_a_accuracy"], m["intervals"]["pubmedqa_b_accuracy"]
    ca, cb = m["intervals"]["squad_closed_book_accuracy"], m["intervals"]["squad_open_book_accuracy"]
    counts = m["pubmedqa_answer_counts"]
    pt, st = m["pubmedqa_a_vs_b"], m["squad_a_vs_b"]
    notes = [
        f"PubMedQA, {len(pub)} questions: A (question alone) {a['value']:.3f} [{a['low']:.3f}, {a['high']:.3f}], "
        f"B (+ conclusion) {b['value']:.3f} [{b['low']:.3f}, {b['high']:.3f}]; always '{'/'.join(m['majority_label'])}' "
        f"scores {m['majority_accuracy']:.3f}. A said yes {counts['A']['yes']}, B {counts['B']['yes']} times of {len(pub)}: "
        f"majority classifier (>= {share:.0%} the majority label): A {m['pubmedqa_majority_flags']['A']}, "
        f"B {m['pubmedqa_majority_flags']['B']}.",
        f"PubMedQA A vs B: A only right {pt['mcnemar']['b']}, B only right {pt['mcnemar']['c']}, exact McNemar "
        f"p = {pt['mcnemar']['p_value']:.3g}: {pt['verdict']}.",
        f"SQuAD, {len(squad)} questions (reply contains the gold answer): A (closed book) {ca['value']:.3f} "
        f"[{ca['low']:.3f}, {ca['high']:.3f}], B (open book) {cb['value']:.3f} [{cb['low']:.3f}, {cb['high']:.3f}]; "
        f"A only {st['mcnemar']['b']}, B only {st['mcnemar']['c']}, p = {st['mcnemar']['p_value']:.3g}: {st['verdict']}.",
    ]
    if m["judge_kappa"] is not None:
        notes.append(
            f"Judge: said yes {m['judge_says_yes']} times, the reference {m['judge_reference_yes']} of {len(squad)}; "
            f"agreement {m['judge_agreement']:.3f}, Cohen's kappa {m['judge_kappa']:.3f} "
            "(0 = chance, 1 = perfect): the lab asks for the judge to be measured, not to be good."
        )
    if values["judge_valid_rate"] < 1:
        bad = next(it for it in squad if not it["judge_valid"])
        notes.append(
            f"Judgements that were not one clean verdict: {sum(not it['judge_valid'] for it in squad)} of "
            f"{len(squad)}; e.g. the model replied {bad['judge_replies'][:1]} and judge() returned "
            f"{bad['judge_returned']}."
        )
    return notes
