"""WRONG on purpose: `optimize` never compiles - the program is returned as it was.

dspy, the reference with optimize replaced.
"""

from pathlib import Path

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import FinalNumber, build_program, load_program, metric, save_program  # noqa: E402,F401


def optimize(program, trainset: list):
    return program  # "the model is good enough already"
