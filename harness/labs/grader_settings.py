"""A lab's grader settings: its grader.py declares them as `class Settings(GraderSettings)`, with
the defaults it uses, and lab.toml's [grader] table is validated against that model, so a typo is
an error instead of a default silently used: before grading (harness.labs.child, a LabError in
the report) and by `harness dev check --fast` (grader_settings_problems).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import LabError

HOW = "declare each key in grader.py's `class Settings(GraderSettings)` with its default (docs/lab-format.md)"


class GraderSettings(BaseModel):
    """The base of a grader's Settings: frozen, and a key it does not declare is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def settings_class(grader: ModuleType) -> type[GraderSettings] | None:
    """The grader's Settings model; None when it declares none."""
    cls = getattr(grader, "Settings", None)
    if cls is None:
        return None
    if not (isinstance(cls, type) and issubclass(cls, GraderSettings)):
        raise LabError(
            f"{grader.__file__}: Settings is not a GraderSettings model",
            "declare it as `class Settings(GraderSettings)` (from harness.labs.api)",
        )
    return cls


def _problems(cls: type[GraderSettings] | None, table: dict[str, Any]) -> list[str]:
    """Each wrong key as lab.toml spells it ("grader.n_itmes: unknown key"). No square brackets:
    the CLI prints through rich, which would take "[grader]" for markup."""
    if cls is None:
        keys = ", ".join(f"grader.{k}" for k in sorted(table))
        return [f"{keys}: grader.py declares no Settings to read them"] if table else []
    try:
        cls.model_validate(table)
    except ValidationError as e:
        return [
            f"grader.{'.'.join(str(p) for p in err['loc'])}: "
            f"{'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}"
            for err in e.errors()
        ]
    return []


def _known(cls: type[GraderSettings] | None) -> str:
    return ", ".join(cls.model_fields) if cls is not None and cls.model_fields else "(none)"


def validate_settings(cls: type[GraderSettings] | None, table: dict[str, Any], lab_toml: Path) -> GraderSettings:
    """`table` (lab.toml's [grader]) as the grader's Settings; a LabError names the file, each bad
    key and the keys the grader knows."""
    problems = _problems(cls, table)
    if problems:
        raise LabError(f"{lab_toml}: {'; '.join(problems)} (the keys grader.py's Settings knows: {_known(cls)})", HOW)
    return cls.model_validate(table) if cls is not None else GraderSettings()


def load_grader(grader_path: Path, name: str) -> ModuleType:
    """The module of a grader.py: the one already imported from that file, else imported now (with
    its lab folder on sys.path, as the child has it). Importing a grader loads no model."""
    path = os.path.realpath(grader_path)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and os.path.basename(file) == "grader.py" and os.path.realpath(file) == path:
            return module
    from harness.backends.catalog import import_file

    lab_dir = str(Path(path).parent)
    sys.path.insert(0, lab_dir)
    try:
        return import_file(name, Path(path))
    finally:
        if lab_dir in sys.path:
            sys.path.remove(lab_dir)


def _module_name(lab_dir: Path) -> str:
    return f"_lab_grader_{Path(lab_dir).name.replace('-', '_')}"


def settings_for(lab_dir: Path, table: dict[str, Any]) -> GraderSettings:
    """The Settings of the grader in lab_dir for `table`: for a LabContext made by hand (the labs'
    unit tests call a grader's functions directly); the child validates before grading."""
    grader = load_grader(Path(lab_dir) / "grader.py", _module_name(lab_dir))
    return validate_settings(settings_class(grader), table, Path(lab_dir) / "lab.toml")


def grader_settings_problems(spec) -> list[str]:
    """Lint (`harness dev check --fast`): lab.toml's [grader] against grader.py's Settings."""
    path = spec.grader_path
    if not path.is_file():
        return []  # lint_lab reports the missing file
    try:
        cls = settings_class(load_grader(path, _module_name(spec.lab_dir)))
    except LabError as e:
        return [e.message]
    except Exception as e:  # noqa: BLE001 - any failure to import is the lab's problem to report
        return [f"grader.py does not import: {type(e).__name__}: {e}"]
    problems = _problems(cls, spec.grader)
    return [f"lab.toml: {'; '.join(problems)} (the keys grader.py's Settings knows: {_known(cls)})"] if problems else []
