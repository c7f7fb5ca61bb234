"""dspy: a DSPy program on a local model, evaluated, optimized, saved and reloaded.

Task (GSM8K, real data): read a worked math solution (its '#### N' line and calculator notes
removed), e.g. "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at
the farmer's market.", and give its final answer (18). Each example has the input `solution`
and the label `answer` (an int).

The grader configures DSPy for you (dspy.configure) with the local model behind the harness's
DSPy adapter: constrained JSON decoding, so even a 135M model's output parses. You write:

  build_program()            -> a dspy.Module (a Signature + dspy.Predict or ChainOfThought)
  metric(example, pred, trace=None) -> bool
  optimize(program, trainset) -> the program compiled by a DSPy optimizer
  save_program(program, path) / load_program(path): JSON on disk and back

Run `harness check dspy`.
"""

import dspy  # noqa: F401

# TODO: a dspy.Signature with the input field `solution` (str) and the output field `answer`
# typed `int`, with a one-line docstring saying the task.


def build_program():
    """The unoptimized program, e.g. dspy.Predict(YourSignature)."""
    # TODO
    raise NotImplementedError


def metric(example, prediction, trace=None) -> bool:
    """True when the predicted answer is the example's number."""
    # TODO
    raise NotImplementedError


def optimize(program, trainset):
    """Compile `program` with a DSPy optimizer (dspy.LabeledFewShot, dspy.BootstrapFewShot, ...)
    on `trainset` (or on demos you choose from it) and return the compiled program."""
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
