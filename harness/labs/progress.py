"""Per-lab progress in <state_dir>/progress.json, written atomically under a file lock.

A corrupt or foreign file is set aside (progress.json.corrupt-<time>) with a warning, and the
learner starts from a clean state: a broken state file never stops a check.
"""

from __future__ import annotations

import json
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from filelock import FileLock
from pydantic import BaseModel, Field, ValidationError

from harness.atomic import atomic_write_text
from harness.paths import state_dir

State = Literal["not started", "started", "failing", "passed"]
SCHEMA = 1


class LabProgress(BaseModel):
    state: State = "not started"
    best_score: float | None = None  # best fraction of criteria passed
    hints_shown: int = 0
    checks: int = 0
    last_check: str | None = None  # ISO time, UTC
    last_passed: bool | None = None
    lab_version: str | None = None
    workspace: str | None = None  # where `start` put the file (this machine only; never in results)


class ProgressFile(BaseModel):
    schema_version: int = SCHEMA
    labs: dict[str, LabProgress] = Field(default_factory=dict)


class ProgressWarning(UserWarning):
    pass


class Progress:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else state_dir() / "progress.json"
        self.lock = FileLock(str(self.path) + ".lock", timeout=30)

    def _read(self) -> ProgressFile:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ProgressFile()
        except OSError as e:
            warnings.warn(
                f"could not read {self.path} ({e}); starting from empty progress", ProgressWarning, stacklevel=3
            )
            return ProgressFile()
        try:
            data = ProgressFile.model_validate(json.loads(raw))
            if data.schema_version != SCHEMA:
                raise ValueError(f"schema_version {data.schema_version}")
            return data
        except (json.JSONDecodeError, ValidationError, ValueError, TypeError):
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            try:
                self.path.replace(aside)
                where = f"kept as {aside.name}"
            except OSError:
                where = "left in place"
            warnings.warn(f"{self.path} was unreadable and was reset ({where})", ProgressWarning, stacklevel=3)
            return ProgressFile()

    def load(self) -> ProgressFile:
        if not self.path.exists():
            return ProgressFile()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            return self._read()

    def get(self, lab_id: str) -> LabProgress:
        return self.load().labs.get(lab_id, LabProgress())

    def _update(self, lab_id: str, change) -> LabProgress:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            data = self._read()
            entry = data.labs.get(lab_id, LabProgress())
            entry = change(entry) or entry  # a change may return a replacement entry
            data.labs[lab_id] = entry
            atomic_write_text(self.path, data.model_dump_json(indent=2) + "\n")
            return entry

    def record_start(self, lab_id: str, workspace: Path) -> LabProgress:
        def change(e: LabProgress) -> None:
            e.workspace = str(Path(workspace).resolve())
            if e.state == "not started":
                e.state = "started"

        return self._update(lab_id, change)

    def record_check(self, lab_id: str, *, passed: bool, score: float, lab_version: str) -> LabProgress:
        def change(e: LabProgress) -> None:
            e.checks += 1
            e.last_check = datetime.now(timezone.utc).isoformat(timespec="seconds")
            e.last_passed = passed
            e.lab_version = lab_version
            e.best_score = score if e.best_score is None else max(e.best_score, score)
            # once passed, a lab stays passed: later experiments do not undo it
            e.state = "passed" if passed or e.state == "passed" else "failing"

        return self._update(lab_id, change)

    def next_hint(self, lab_id: str, n_hints: int) -> tuple[int, LabProgress]:
        """Index of the hint to show now (the last one repeats), and the updated entry."""
        shown: list[int] = []

        def change(e: LabProgress) -> None:
            shown.append(min(e.hints_shown, n_hints - 1))
            e.hints_shown = min(e.hints_shown + 1, n_hints)

        entry = self._update(lab_id, change)
        return shown[0], entry

    def reset(self, lab_id: str) -> None:
        def change(e: LabProgress) -> LabProgress:
            return LabProgress(workspace=e.workspace)

        self._update(lab_id, change)
