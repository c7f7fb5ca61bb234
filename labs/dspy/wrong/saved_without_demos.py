"""WRONG on purpose: saved without its demos (only the signature is written).

dspy, reference solution modified.
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
    import json

    program.save(str(path))
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    # "demos are data, not the program": trimmed to keep the file small
    for value in [state, *state.values()]:
        if isinstance(value, dict) and "demos" in value:
            value["demos"] = []
    with open(path, "w", encoding="utf-8") as f:
        json.dump(state, f)


def load_program(path) -> dspy.Module:
    program = build_program()
    program.load(str(path))
    return program
