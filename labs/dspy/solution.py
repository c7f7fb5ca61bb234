"""dspy, reference solution.

A DSPy program that reads a GSM8K worked solution (its '#### N' line and calculator notes
removed) and gives its final number. The grader runs it on the local model through the harness's
DSPy adapter (JSONAdapter + schema-constrained decoding), evaluates it with dspy.Evaluate,
optimizes it with `optimize`, saves and reloads it as JSON, and compares the reloaded
optimized program with the unoptimized one on the same solutions.
"""

import dspy


class FinalNumber(dspy.Signature):
    """Read the worked solution and give its final answer (the last number it computes)."""

    solution: str = dspy.InputField()
    answer: int = dspy.OutputField()


def build_program() -> dspy.Module:
    return dspy.Predict(FinalNumber)


def metric(example, prediction, trace=None) -> bool:
    try:
        return int(prediction.answer) == int(example.answer)
    except (TypeError, ValueError):
        return False


def optimize(program: dspy.Module, trainset: list) -> dspy.Module:
    """Few-shot: LabeledFewShot puts 3 labelled training solutions into the prompt as demos.

    Zero-shot the small model often copies a number that is not the result, or runs on
    writing digits; three worked demos show it which number to give and where it stops. The
    training set holds one-step solutions, so the demos are short: every demo is prompt the
    model reads again on every call."""
    return dspy.LabeledFewShot(k=3).compile(program, trainset=trainset[:3])


def save_program(program: dspy.Module, path) -> None:
    program.save(str(path))  # a .json path: the signature's instructions and the demos, as JSON


def load_program(path) -> dspy.Module:
    program = build_program()
    program.load(str(path))
    return program
