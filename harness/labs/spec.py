"""lab.toml: the pydantic model of a lab's spec, and discovery of labs/<id>/ folders.

The schema is docs/lab-format.md; unknown keys are rejected so a typo in a lab.toml
is caught by `harness dev check` instead of being silently ignored.
"""

from __future__ import annotations

import operator
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

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


# What a figure measures (issue 14: declared where it is produced, not guessed from its name):
# accuracy and retrieval depend on the answers, latency on the machine. The bench files each lab
# figure under its kind (harness/bench/cell.py lab_figures); an undeclared metric is kept as context.
Kind = Literal["accuracy", "retrieval", "latency"]


class Criterion(_Strict):
    name: str = Field(min_length=1)
    op: Op
    threshold: float
    description: str = Field(min_length=1)
    hint: str = Field(min_length=1)
    kind: Kind
    # The figure the bench's accuracy-vs-speed frontier plots and tests (harness/bench/frontier.py): the
    # grader reports it per item (harness/grading/outcomes.py). At most one per lab.
    frontier: bool = False

    @model_validator(mode="after")
    def _frontier_kind(self) -> Criterion:
        if self.frontier and self.kind not in ("accuracy", "retrieval"):
            raise ValueError(
                'frontier = true needs kind = "accuracy" or "retrieval" (the frontier tests answers, not speed)'
            )
        return self

    def passes(self, value: float | None) -> bool:
        return value is not None and OPS[self.op](float(value), self.threshold)

    @property
    def required(self) -> str:
        return f"{self.op} {self.threshold:g}"


class Models(_Strict):
    chat: str | None = None
    embedding: str | None = None


class WrongSolution(_Strict):
    """A plausible mistake, labs/<id>/wrong/<file>: `harness dev check` proves the grader catches it."""

    file: str = Field(min_length=1)  # a file name in wrong/
    limit: int | None = Field(default=None, ge=1)  # --limit for its run: the mistake shows on a few items
    must_fail: list[str] = Field(min_length=1)  # criteria that name the mistake
    must_pass: list[str] = Field(default_factory=list)  # criteria the mistake leaves working
    # When given, nothing outside must_fail + may_fail may fail (the mistake is only this one).
    may_fail: list[str] | None = None

    @model_validator(mode="after")
    def _fail_or_pass(self) -> WrongSolution:
        both = sorted(set(self.must_fail) & set(self.must_pass))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be in both must_fail and must_pass")
        return self

    @property
    def name(self) -> str:
        return Path(self.file).stem


class ReferenceRun(_Strict):
    """Another dataset the reference must pass on (e.g. held-out data the lab never saw)."""

    dataset: str = Field(min_length=1)  # path relative to the lab folder
    limit: int | None = Field(default=None, ge=1)


class Dev(_Strict):
    """[dev]: what `harness dev check` (and tests/labs/test_curriculum.py) proves on the default models."""

    starter_error: str | None = None  # default: "not implemented yet: <entry[0]>"
    reference_limit: int | None = Field(default=None, ge=1)  # --limit of the reference's run on the lab's data
    reference_datasets: list[ReferenceRun] = Field(default_factory=list)
    wrong: list[WrongSolution] = Field(default_factory=list)

    @field_validator("reference_datasets", mode="before")
    @classmethod
    def _plain_paths(cls, v: Any) -> Any:
        return [{"dataset": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v


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
    # The grader's other numeric metrics the bench compares, by name (nested ones dotted, as in
    # "a.b"); every other metric goes to the bench cell's `extra`, kept but never compared.
    metric_kinds: dict[str, Kind] = Field(default_factory=dict)
    grader: dict[str, Any] = Field(default_factory=dict)
    dev: Dev = Field(default_factory=Dev)

    # Where the spec was read from; not part of lab.toml.
    lab_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("criteria")
    @classmethod
    def _one_frontier(cls, v: list[Criterion]) -> list[Criterion]:
        marked = [c.name for c in v if c.frontier]
        if len(marked) > 1:
            raise ValueError(f"frontier = true on {', '.join(marked)}: one criterion at most")
        return v

    @model_validator(mode="after")
    def _metric_kinds_not_criteria(self) -> LabSpec:
        both = sorted({c.name for c in self.criteria} & set(self.metric_kinds))
        if both:
            raise ValueError(f"metric_kinds names criteria ({', '.join(both)}): a criterion declares its own kind")
        return self

    def figure_kinds(self) -> dict[str, Kind]:
        """Every figure of this lab with a declared kind: its criteria and [metric_kinds]."""
        return {**self.metric_kinds, **{c.name: c.kind for c in self.criteria}}

    @model_validator(mode="after")
    def _dev_names_criteria_and_files(self, info: ValidationInfo) -> LabSpec:
        """[dev] may only name this lab's criteria, and (when the lab folder is known) its files."""
        names = {c.name for c in self.criteria}
        files = [w.file for w in self.dev.wrong]
        problems = [f"dev.wrong: {f} is declared twice" for f in sorted({f for f in files if files.count(f) > 1})]
        lab_dir = (info.context or {}).get("lab_dir")
        for i, w in enumerate(self.dev.wrong):
            for field in ("must_fail", "must_pass", "may_fail"):
                unknown = [n for n in getattr(w, field) or [] if n not in names]
                if unknown:
                    problems.append(f"dev.wrong[{i}].{field}: {', '.join(unknown)} is not a criterion of this lab")
            if Path(w.file).name != w.file or not w.file.endswith(".py"):
                problems.append(f"dev.wrong[{i}].file: {w.file!r} must be a .py file name in wrong/")
            elif lab_dir is not None and not (Path(lab_dir) / "wrong" / w.file).is_file():
                problems.append(f"dev.wrong[{i}].file: wrong/{w.file} does not exist")
        for i, run in enumerate(self.dev.reference_datasets):
            if lab_dir is not None and not (Path(lab_dir) / run.dataset).is_file():
                problems.append(
                    f"dev.reference_datasets[{i}]: {run.dataset} does not exist (paths are relative to the lab folder)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def starter_error(self) -> str:
        """The message `harness check` gives for the untouched starter."""
        return self.dev.starter_error or f"not implemented yet: {self.entry[0]}"

    @property
    def wrong_dir(self) -> Path:
        return self.lab_dir / "wrong"

    @property
    def checks_path(self) -> Path:
        return self.lab_dir / "checks.py"

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
        spec = LabSpec.model_validate(raw, context={"lab_dir": path.parent})  # [dev] names files there
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
