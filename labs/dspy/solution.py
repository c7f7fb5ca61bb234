"""dspy, reference solution.

A DSPy program that reads the conclusion of a PubMedQA abstract and says whether it answers the
study's question with yes, no or maybe. The grader runs it on the local model through the
harness's DSPy adapter (JSONAdapter + schema-constrained decoding), evaluates it with
dspy.Evaluate, optimizes it with `optimize`, saves and reloads it as JSON, and compares the
reloaded optimized program with the unoptimized one on the same questions.
"""


from typing import Literal

import dspy


class ConclusionAnswer(dspy.Signature):
    """Does the study's conclusion answer its research question with yes, no or maybe?"""

    question: str = dspy.InputField(desc="the research question")
    conclusion: str = dspy.InputField(desc="the conclusion of the study's abstract")
    answer: Literal["yes", "no", "maybe"] = dspy.OutputField()


def build_program() -> dspy.Module:
    return dspy.Predict(ConclusionAnswer)


def metric(example, prediction, trace=None) -> bool:
    return example.answer == prediction.answer


def optimize(program: dspy.Module, trainset: list) -> dspy.Module:
    """Few-shot: one labelled training example of each answer goes into the prompt as a demo.

    Balanced on purpose: zero-shot the small model says "yes" to nearly everything, so the
    demos must show what "no" and "maybe" look like. Few demos on purpose too: every demo is
    prompt the model reads again on every call."""
    balanced = []
    for label in ("yes", "no", "maybe"):
        balanced += [ex for ex in trainset if ex.answer == label][:1]
    optimizer = dspy.LabeledFewShot(k=len(balanced))
    return optimizer.compile(program, trainset=balanced)


def save_program(program: dspy.Module, path) -> None:
    program.save(str(path))  # a .json path: the signature's instructions and the demos, as JSON


def load_program(path) -> dspy.Module:
    program = build_program()
    program.load(str(path))
    return program
