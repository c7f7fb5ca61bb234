"""The report of one check: what was measured, what was required, what to try next."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from harness.labs.spec import LabSpec

# Error kinds: learner_exception, not_implemented, missing_function, learner_error (the grader
# rejected what the learner's code returned), timeout, memory, crash (the process died without
# a result), harness (model/backend problem the user can fix), internal (a bug in grader/harness).
LEARNER_KINDS = {
    "learner_exception",
    "not_implemented",
    "missing_function",
    "learner_error",
    "timeout",
    "memory",
    "crash",
}


class CriterionRow(BaseModel):
    name: str
    value: float | None  # None: not measured (the run stopped first, or the grader did not measure it)
    op: str
    threshold: float
    required: str  # e.g. ">= 0.8"
    passed: bool
    description: str
    hint: str


class CheckError(BaseModel):
    kind: str
    message: str
    hint: str | None = None
    traceback: str | None = None  # the learner's frames only
    stage: str | None = None  # "import": the learner's file failed to import, so nothing was measured


class LearnerOutput(BaseModel):
    """What the learner's code printed (head and tail kept when it printed a lot)."""

    stdout: str = ""
    stderr: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0


class CheckReport(BaseModel):
    lab: str
    lab_version: str
    title: str
    passed: bool
    score: float = Field(description="fraction of criteria passed")
    criteria: list[CriterionRow]
    metrics: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    samples: list[dict[str, Any]] = Field(default_factory=list)
    error: CheckError | None = None
    next_steps: list[str] = Field(default_factory=list)
    wall_s: float
    solution: str  # "reference" or the file's name relative to the working directory
    model: str | None
    embedding_model: str | None = None
    backend: str
    device: str
    backends: dict[str, Any] = Field(default_factory=dict)  # what each loaded model actually ran on
    seed: int
    limit: int | None = None
    dataset: str | None = None  # file name only
    calibrated_on: list[str] = Field(default_factory=list)
    memory_limit: str | None = None
    output: LearnerOutput = Field(default_factory=LearnerOutput)
    harness_version: str

    def failed_criteria(self) -> set[str]:
        return {c.name for c in self.criteria if not c.passed}

    def nothing_measured(self) -> bool:
        """An error stopped the run before any criterion was measured (an import error, a missing
        entry function, sys.exit at import, a crash or a timeout before the first value)."""
        return self.error is not None and bool(self.criteria) and all(c.value is None for c in self.criteria)


def criteria_rows(spec: LabSpec, values: dict[str, float | None]) -> list[CriterionRow]:
    rows = []
    for c in spec.criteria:
        v = values.get(c.name)
        rows.append(
            CriterionRow(
                name=c.name,
                value=v,
                op=c.op,
                threshold=c.threshold,
                required=c.required,
                passed=c.passes(v),
                description=c.description,
                hint=c.hint,
            )
        )
    return rows


def next_steps(rows: list[CriterionRow], error: CheckError | None) -> list[str]:
    """One sentence per failed criterion; an error comes first because it blocks the rest."""
    steps = []
    if error is not None:
        steps.append(error.hint or _error_step(error.kind))
    for r in rows:
        if not r.passed and r.value is not None:
            steps.append(f"{r.name}: {r.hint}")
    return steps


def _error_step(kind: str) -> str:
    return {
        "learner_exception": "read the traceback above: it starts in your file.",
        "timeout": "look for an endless loop, or generate fewer tokens (max_tokens).",
        "memory": "keep less in memory at once (process items in a loop, not all together).",
        "crash": "the process died without a Python error: look at its stderr above.",
        "internal": "this looks like a bug in the lab or the harness; please report it with this output.",
    }.get(kind, "fix the problem above and check again.")
