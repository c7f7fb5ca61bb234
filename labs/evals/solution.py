"""Reference solution of the evals lab: a Wilson interval, the majority baseline and a check for a
classifier that is really one label, the exact McNemar test, a schema-constrained yes/no judge
and Cohen's kappa."""

from __future__ import annotations

import json
import math
from collections import Counter
from statistics import NormalDist

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["verdict"],
}
ALPHA = 0.05
MAJORITY_SHARE = 0.9


def accuracy_interval(correct: list[bool], confidence: float = 0.95) -> tuple[float, float, float]:
    """Accuracy and its Wilson score interval: unlike acc +- z*sqrt(acc(1-acc)/n) it stays inside
    [0, 1] and is not zero-wide at 0% or 100%."""
    n = len(correct)
    k = sum(bool(c) for c in correct)
    p = k / n
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def majority_baseline(gold_labels: list) -> tuple[object, float]:
    """The most common gold label and the accuracy of always answering it."""
    label, count = Counter(gold_labels).most_common(1)[0]
    return label, count / len(gold_labels)


def is_majority_classifier(predictions: list, gold: list, share: float = MAJORITY_SHARE) -> bool:
    """True when at least `share` of the predictions are the majority label of the gold: whatever
    its accuracy, such a classifier tells you little more than the base rate."""
    label, _ = majority_baseline(gold)
    return sum(p == label for p in predictions) / len(predictions) >= share


def paired_test(a_correct: list[bool], b_correct: list[bool], alpha: float = ALPHA) -> tuple[float, str]:
    """Exact McNemar test of two systems on the same items: only the items where they differ
    count, and under "no difference" each of those is equally likely to go either way."""
    b = sum(1 for x, y in zip(a_correct, b_correct) if x and not y)  # A right, B wrong
    c = sum(1 for x, y in zip(a_correct, b_correct) if y and not x)  # B right, A wrong
    n = b + c
    if n == 0:
        return 1.0, "not significant"
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    p = min(1.0, 2 * tail)
    if p >= alpha or b == c:
        return p, "not significant"
    return p, "B is better" if c > b else "A is better"


def judge(llm, question: str, gold_answers: list[str], reply: str) -> bool:
    """Ask the chat model whether the reply answers the question correctly, as a yes/no verdict
    constrained by a JSON schema (so it can only say one of the two)."""
    messages = [
        {
            "role": "system",
            "content": "You grade answers. Say yes if the reply gives the correct answer, no otherwise.",
        },
        {
            "role": "user",
            "content": f"Question: {question}\nCorrect answer: {' / '.join(gold_answers)}\n"
            f"Reply: {reply}\nIs the reply correct?",
        },
    ]
    completion = llm.chat(messages, max_tokens=16, temperature=0.0, seed=0, schema=JUDGE_SCHEMA)
    return json.loads(completion.text)["verdict"] == "yes"


def cohen_kappa(a: list[bool], b: list[bool]) -> float:
    """Agreement of two raters beyond chance: (p_o - p_e) / (1 - p_e)."""
    n = len(a)
    po = sum(bool(x) == bool(y) for x, y in zip(a, b)) / n
    pa, pb = sum(map(bool, a)) / n, sum(map(bool, b)) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe == 1:  # both gave one and the same label to everything: undefined (the grader skips such cases)
        return float("nan")
    return (po - pe) / (1 - pe)
