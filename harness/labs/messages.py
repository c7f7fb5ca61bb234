"""What crosses the boundary of a lab's check: the request harness.labs.check sends to
harness.labs.child, and the reply the child sends back (harness/child_process.py carries them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import model_validator

from harness.child_process import Message


class RoleModels(Message):
    chat: str | None = None
    embedding: str | None = None  # None: the lab has no embedding model


class LabCheckRequest(Message):
    lab_id: str
    lab_dir: Path
    solution: Path  # the learner's file (or the reference)
    entry: list[str]  # the functions the lab calls on it
    models: RoleModels
    backend: str  # a record's name, or "module:callable" for a backend outside the harness
    embed_backend: str
    device: str
    threads: int | None = None
    dataset: Path | None = None
    limit: int | None = None
    seed: int = 0
    grader_table: dict[str, Any] = {}  # lab.toml's [grader] table; the child validates it (grader_settings.py)
    progress_fd: int | None = None  # the pipe of ctx.progress() (harness/labs/liveness.py)


class MeasurementMessage(Message):
    """harness.labs.api.Measurement, with the engine's timings added."""

    values: dict[str, float | None]
    metrics: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    samples: list[dict[str, Any]] = []
    notes: list[str] = []


class ChildError(Message):
    """Why grading stopped; the fields of harness.labs.report.CheckError."""

    kind: str
    message: str
    hint: str | None = None
    traceback: str | None = None
    stage: str | None = None


class LabCheckReply(Message):
    """A measurement, or the error that stopped grading."""

    measurement: MeasurementMessage | None = None
    error: ChildError | None = None
    backends: dict[str, dict[str, Any] | None] = {}  # role -> what its model ran on (child._backend_summary)

    @model_validator(mode="after")
    def _one_of(self) -> LabCheckReply:
        if (self.measurement is None) == (self.error is None):
            raise ValueError("a reply has a measurement or an error, not both or neither")
        return self
