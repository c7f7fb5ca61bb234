"""Wrong solution of evals: the judge asks for yes or no in words and reads the verdict out of free
text, with no schema. SmolLM2-135M then writes sentences ("No, the reply is incorrect. The correct
answer is ...") and the first yes/no word in them is taken as the verdict: judge_valid_rate must fail."""

from __future__ import annotations

import re
from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import accuracy_interval, cohen_kappa, is_majority_classifier, majority_baseline, paired_test  # noqa: E402,F401


def judge(llm, question, gold_answers, reply):
    messages = [
        {
            "role": "system",
            "content": "You grade answers. Say yes if the reply gives the correct answer, no otherwise.",
        },
        {
            "role": "user",
            "content": f"Question: {question}\nCorrect answer: {' / '.join(gold_answers)}\n"
            f"Reply: {reply}\nIs the reply correct? Answer yes or no.",
        },
    ]
    text = llm.chat(messages, max_tokens=16, temperature=0.0, seed=0).text
    words = re.findall(r"[a-z]+", text.lower())
    return next((w == "yes" for w in words if w in ("yes", "no")), False)
