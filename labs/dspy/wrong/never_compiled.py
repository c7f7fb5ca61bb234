"""WRONG on purpose: `optimize` never compiles - the program is returned as it was.

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
    """Few-shot: put labelled training examples into the prompt as demonstrations."""
    return program  # "the model is good enough already"


def save_program(program: dspy.Module, path) -> None:
    program.save(str(path))  # a .json path: the signature's instructions and the demos, as JSON


def load_program(path) -> dspy.Module:
    program = build_program()
    program.load(str(path))
    return program
