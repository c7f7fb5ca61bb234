"""The learner's workspace: ./labs-workspace/<id>/<id_with_underscores>.py plus the brief.

`start` copies the starter there; it never overwrites work the learner has edited unless told to.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.atomic import atomic_write_bytes
from harness.errors import LabError
from harness.labs.spec import LabSpec

WORKSPACE_DIRNAME = "labs-workspace"


def default_workspace(spec: LabSpec, base: Path | None = None) -> Path:
    """`base` is the --dir the learner gave (the lab's folder itself), else ./labs-workspace/<id>/."""
    return Path(base) if base is not None else Path.cwd() / WORKSPACE_DIRNAME / spec.id


def solution_filename(spec: LabSpec) -> str:
    return f"{spec.module_name}.py"


def default_solution_path(spec: LabSpec, base: Path | None = None) -> Path:
    """The workspace file: --dir if given, else ./labs-workspace/<id>/, else where `start` put it."""
    path = default_workspace(spec, base) / solution_filename(spec)
    if base is None and not path.is_file():
        from harness.labs.progress import Progress

        remembered = Progress().get(spec.id).workspace
        if remembered and (Path(remembered) / solution_filename(spec)).is_file():
            return Path(remembered) / solution_filename(spec)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class StartResult:
    workspace: Path
    solution: Path
    readme: Path
    replaced: bool  # an existing file was overwritten (unedited, or --force)
    backup: Path | None  # where edited work went when --force replaced it


def start(spec: LabSpec, base: Path | None = None, *, force: bool = False) -> StartResult:
    ws = default_workspace(spec, base)
    target = ws / solution_filename(spec)
    starter = spec.starter_path
    if not starter.is_file():
        raise LabError(f"lab {spec.id} has no starter.py", "the lab folder is incomplete: run `harness dev check`")
    replaced, backup = False, None
    if target.exists():
        edited = _sha(target) != _sha(starter)
        if edited and not force:
            raise LabError(
                f"{target} already exists and holds your edits",
                f"keep working on it and run `harness check {spec.id}`, or pass --force to start over "
                "(your file is kept as a .bak copy)",
            )
        if edited:
            backup = target.with_suffix(".py.bak")
            shutil.copy2(target, backup)
        replaced = True
    atomic_write_bytes(target, starter.read_bytes())
    readme = ws / "README.md"
    if spec.readme_path.is_file():
        atomic_write_bytes(readme, spec.readme_path.read_bytes())
    return StartResult(workspace=ws, solution=target, readme=readme, replaced=replaced, backup=backup)
