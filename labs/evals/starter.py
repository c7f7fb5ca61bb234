"""Evals lab: tell a real improvement from noise, and a useful metric from a misleading one.

Fill in the six functions. The grader calls them on the real outputs of the chat model made
during the check (PubMedQA yes/no/maybe answers of two prompts, SQuAD free-text replies with
and without their paragraph), and on fixed cases whose right answer it knows:

    acc, low, high = accuracy_interval(correct)              # correct: [True, False, ...]
    label, acc = majority_baseline(gold_labels)              # e.g. ("yes", 0.475)
    flag = is_majority_classifier(predictions, gold)         # True / False
    p, verdict = paired_test(a_correct, b_correct)           # same items, same order
    ok = judge(llm, question, gold_answers, reply)           # True / False
    kappa = cohen_kappa(judge_verdicts, reference_verdicts)  # two lists of bools

`llm.chat(messages, max_tokens=..., temperature=0.0, seed=0, schema=...)` -> Completion;
`completion.text` is the model's output. With `schema` (a JSON schema) the output is
constrained to match it (grammar-constrained decoding).

Run `harness check evals` to grade this file, `harness hint evals` when stuck.
"""

from __future__ import annotations

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["verdict"],
}
ALPHA = 0.05  # significance level of paired_test
MAJORITY_SHARE = 0.9  # is_majority_classifier: this share of predictions being the majority label


def accuracy_interval(correct: list[bool], confidence: float = 0.95) -> tuple[float, float, float]:
    """(accuracy, low, high): the share of True and its 95% Wilson score interval.
    z = NormalDist().inv_cdf(0.5 + confidence / 2)  (1.96 for 95%)."""
    # TODO: p = k / n; centre = (p + z²/2n) / (1 + z²/n);
    #       half = z * sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n); clip to [0, 1].
    raise NotImplementedError("accuracy_interval")


def majority_baseline(gold_labels: list) -> tuple[object, float]:
    """(label, accuracy): the most common gold label, and the accuracy of always answering it."""
    # TODO: Counter(gold_labels).most_common(1)
    raise NotImplementedError("majority_baseline")


def is_majority_classifier(predictions: list, gold: list) -> bool:
    """True when at least MAJORITY_SHARE of the predictions are the majority label of `gold`
    (the classifier is the majority baseline in disguise, whatever its accuracy)."""
    # TODO: use majority_baseline(gold), then count the predictions equal to that label.
    raise NotImplementedError("is_majority_classifier")


def paired_test(a_correct: list[bool], b_correct: list[bool]) -> tuple[float, str]:
    """Exact McNemar test of A vs B on the same items: (two-sided p-value, verdict), verdict
    "B is better", "A is better" or "not significant" (p >= ALPHA)."""
    # TODO: count the discordant pairs: b = A right and B wrong, c = B right and A wrong.
    #       Under "no difference" each discordant pair goes either way with probability 1/2:
    #       p = min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2)  (math.comb).
    raise NotImplementedError("paired_test")


def judge(llm, question: str, gold_answers: list[str], reply: str) -> bool:
    """Ask the chat model whether `reply` answers `question` correctly (the gold answers are
    given to it); True for yes. The model's reply must be one clean verdict."""
    # TODO: messages = a system line (what a judge does) + a user message with the question, the
    #       gold answers and the reply; llm.chat(messages, max_tokens=16, temperature=0.0, seed=0,
    #       schema=JUDGE_SCHEMA); json.loads(completion.text)["verdict"] == "yes".
    raise NotImplementedError("judge")


def cohen_kappa(a: list[bool], b: list[bool]) -> float:
    """Cohen's kappa of two yes/no raters on the same items: (p_o - p_e) / (1 - p_e), with p_o the
    observed agreement and p_e the agreement expected by chance from each rater's share of yes."""
    # TODO: p_e = pa * pb + (1 - pa) * (1 - pb)
    raise NotImplementedError("cohen_kappa")
