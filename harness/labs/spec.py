"""lab.toml: the pydantic model of a lab's spec, and discovery of labs/<id>/ folders.

The schema is docs/lab-format.md; unknown keys are rejected so a typo in a lab.toml
is caught by `harness dev check` instead of being silently ignored.
"""

from __future__ import annotations

import operator
import re
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import LabError
from harness.paths import labs_root

LAB_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

Op = Literal[">=", ">", "<=", "<", "=="]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What a criterion measures (issue 14: declared where it is produced, not guessed from its name):
# accuracy and retrieval depend on the answers, latency on the machine.
Kind = Literal["accuracy", "retrieval", "latency"]


class Criterion(_Strict):
    name: str = Field(min_length=1)
    op: Op
    threshold: float
    description: str = Field(min_length=1)
    hint: str = Field(min_length=1)
    kind: Kind | None = None  # None: the bench guesses it from the name (harness/bench/cell.py)
    # The figure the bench's accuracy-vs-speed frontier plots and tests (harness/bench/frontier.py): the
    # grader reports it per item (harness/grading/outcomes.py). At most one per lab.
    frontier: bool = False

    @model_validator(mode="after")
    def _frontier_kind(self) -> "Criterion":
        if self.frontier and self.kind not in ("accuracy", "retrieval"):
            raise ValueError("frontier = true needs kind = \"accuracy\" or \"retrieval\" (the frontier tests answers, not speed)")
        return self

    def passes(self, value: float | None) -> bool:
        return value is not None and OPS[self.op](float(value), self.threshold)

    @property
    def required(self) -> str:
        return f"{self.op} {self.threshold:g}"


class Models(_Strict):
    chat: str | None = None
    embedding: str | None = None


class LabSpec(_Strict):
    id: str
    title: str = Field(min_length=1)
    outcome: str = Field(min_length=1)
    order: int = Field(ge=1)
    version: str = Field(min_length=1)
    skills: list[str] = Field(default_factory=list)
    time_budget_min: int = Field(ge=1)
    timeout_s: float = Field(gt=0)
    timeout_basis: str | None = None  # how timeout_s was set, e.g. from the reference's wall time
    memory_mb: int = Field(ge=256)
    entry: list[str] = Field(min_length=1)
    calibrated_on: list[str] = Field(min_length=1)
    hints: list[str] = Field(min_length=1)
    models: Models = Field(default_factory=Models)
    criteria: list[Criterion] = Field(min_length=1)
    grader: dict[str, Any] = Field(default_factory=dict)

    # Where the spec was read from; not part of lab.toml.
    lab_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("criteria")
    @classmethod
    def _one_frontier(cls, v: list[Criterion]) -> list[Criterion]:
        marked = [c.name for c in v if c.frontier]
        if len(marked) > 1:
            raise ValueError(f"frontier = true on {', '.join(marked)}: one criterion at most")
        return v

    @property
    def frontier_criterion(self) -> Criterion | None:
        return next((c for c in self.criteria if c.frontier), None)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not LAB_ID_RE.match(v):
            raise ValueError("must be lowercase letters, digits and '-' (e.g. 'first-tokens')")
        return v

    @field_validator("entry")
    @classmethod
    def _entry_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a Python function name")
        return v

    @property
    def module_name(self) -> str:
        """The id as a Python identifier: the learner's file is <module_name>.py."""
        return self.id.replace("-", "_")

    @property
    def starter_path(self) -> Path:
        return self.lab_dir / "starter.py"

    @property
    def solution_path(self) -> Path:
        return self.lab_dir / "solution.py"

    @property
    def grader_path(self) -> Path:
        return self.lab_dir / "grader.py"

    @property
    def readme_path(self) -> Path:
        return self.lab_dir / "README.md"

    @property
    def data_dir(self) -> Path:
        return self.lab_dir / "data"


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_spec(path: Path) -> LabSpec:
    """Read and validate one lab.toml. Errors name the file and the field."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabError(f"{path}: no such file", "a lab folder needs a lab.toml (see docs/lab-format.md)") from None
    except tomllib.TOMLDecodeError as e:
        raise LabError(f"{path}: not valid TOML: {e}", "fix the syntax (see docs/lab-format.md)") from None
    try:
        spec = LabSpec.model_validate(raw)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = _field_path(err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{field}: {msg}")
        raise LabError(
            f"{path}: invalid lab.toml: " + "; ".join(problems),
            "fix these fields (the format is in docs/lab-format.md)",
        ) from None
    spec.lab_dir = path.parent
    if spec.id != path.parent.name:
        raise LabError(
            f"{path}: field id = {spec.id!r} but the folder is {path.parent.name!r}",
            "the id must equal the lab's folder name",
        )
    return spec


def discover(root: Path | None = None) -> list[LabSpec]:
    """Every labs/<id>/lab.toml under root, sorted by order then id."""
    root = Path(root) if root is not None else labs_root()
    if not root.is_dir():
        raise LabError(f"no labs folder at {root}", "set HARNESS_LABS to the folder that holds the labs")
    specs = [load_spec(p) for p in sorted(root.glob("*/lab.toml"))]
    return sorted(specs, key=lambda s: (s.order, s.id))


def lab_ids(root: Path | None = None) -> list[str]:
    root = Path(root) if root is not None else labs_root()
    return sorted(p.parent.name for p in root.glob("*/lab.toml")) if root.is_dir() else []


def get_lab(lab_id: str, root: Path | None = None) -> LabSpec:
    """The spec of one lab; an unknown id lists the available ones."""
    root = Path(root) if root is not None else labs_root()
    path = root / lab_id / "lab.toml"
    if not LAB_ID_RE.match(lab_id) or not path.is_file():
        available = ", ".join(lab_ids(root)) or "(none)"
        raise LabError(f"no lab called {lab_id!r}", f"available labs: {available} (see `harness labs`)")
    return load_spec(path)
