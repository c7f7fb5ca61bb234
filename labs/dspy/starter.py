"""dspy: a DSPy program on a local model, evaluated, optimized, saved and reloaded.

Task (PubMedQA): given a study's research question and the conclusion of its abstract, answer
yes, no or maybe. Each example has inputs `question`, `conclusion` and the label `answer`.

The grader configures DSPy for you (dspy.configure) with the local model behind the harness's
DSPy adapter: constrained JSON decoding, so even a 135M model's output parses. You write:

  build_program()            -> a dspy.Module (a Signature + dspy.Predict or ChainOfThought)
  metric(example, pred, trace=None) -> bool
  optimize(program, trainset) -> the program compiled by a DSPy optimizer
  save_program(program, path) / load_program(path): JSON on disk and back

Run `harness check dspy`.
"""


from typing import Literal  # noqa: F401

import dspy  # noqa: F401


# TODO: a dspy.Signature with input fields `question` and `conclusion` and an output field
# `answer` restricted to "yes", "no", "maybe" (typing.Literal), with a one-line docstring task.


def build_program():
    """The unoptimized program, e.g. dspy.Predict(YourSignature)."""
    # TODO
    raise NotImplementedError


def metric(example, prediction, trace=None) -> bool:
    """True when the predicted answer is the example's label."""
    # TODO
    raise NotImplementedError


def optimize(program, trainset):
    """Compile `program` with a DSPy optimizer (dspy.LabeledFewShot, dspy.BootstrapFewShot, ...)
    on `trainset` and return the compiled program."""
    # TODO
    raise NotImplementedError


def save_program(program, path) -> None:
    """Save the program as JSON at `path` (demos included)."""
    # TODO
    raise NotImplementedError


def load_program(path):
    """A fresh build_program() with the saved state loaded into it."""
    # TODO
    raise NotImplementedError
