"""`harness dev check`: lint the curriculum, then run every starter (must fail) and reference (must pass)."""

from __future__ import annotations

import ast
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from harness.cli.common import JsonOpt, emit_json, out_console
from harness.errors import LabError

dev_app = typer.Typer(help="Commands for lab authors.", no_args_is_help=True)

META_FILES = {"LICENSE", "LICENSE.txt", "LICENSE.md", "PROVENANCE.md", "README.md"}


def _top_level_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def lint_lab(spec) -> list[str]:
    """Problems of one lab folder that need no model to find."""
    problems = []
    d = spec.lab_dir
    for name in ("README.md", "starter.py", "solution.py", "grader.py"):
        if not (d / name).is_file():
            problems.append(f"{name} is missing")
    for i, h in enumerate(spec.hints):
        if not h.strip():
            problems.append(f"hints[{i}] is empty")
    names = [c.name for c in spec.criteria]
    if len(set(names)) != len(names):
        problems.append(f"criteria names repeat: {names}")
    for c in spec.criteria:
        if not c.name.strip() or not c.hint.strip() or not c.description.strip():
            problems.append(f"criterion {c.name!r} needs a name, a description and a hint")
    for fname, need_todo in (("starter.py", True), ("solution.py", False)):
        p = d / fname
        if not p.is_file():
            continue
        try:
            funcs = _top_level_functions(p)
        except SyntaxError as e:
            problems.append(f"{fname} does not parse: {e}")
            continue
        missing = [f for f in spec.entry if f not in funcs]
        if missing:
            problems.append(f"{fname} does not define {', '.join(missing)}")
        if need_todo and "TODO" not in p.read_text(encoding="utf-8"):
            problems.append("starter.py has no TODO")
    if (d / "grader.py").is_file():
        try:
            if "grade" not in _top_level_functions(d / "grader.py"):
                problems.append("grader.py does not define grade(solution, ctx)")
        except SyntaxError as e:
            problems.append(f"grader.py does not parse: {e}")
    data = d / "data"
    if data.is_dir():
        files = [p for p in data.rglob("*") if p.is_file() and p.name not in META_FILES and not p.name.startswith(".")]
        if files:
            if not any((data / n).is_file() for n in ("LICENSE", "LICENSE.txt", "LICENSE.md")):
                problems.append("data/ holds data but no LICENSE")
            if not (data / "PROVENANCE.md").is_file():
                problems.append("data/ holds data but no PROVENANCE.md")
    return problems


def lint_curriculum(root: Path | None = None) -> dict[str, list[str]]:
    from harness.labs.spec import load_spec
    from harness.paths import labs_root

    root = Path(root) if root else labs_root()
    problems: dict[str, list[str]] = {}
    specs = []
    for toml in sorted(root.glob("*/lab.toml")):
        try:
            specs.append(load_spec(toml))
        except LabError as e:
            problems[toml.parent.name] = [e.message]
    seen_ids, seen_orders = {}, {}
    for s in specs:
        problems.setdefault(s.id, [])
        if s.id in seen_ids:
            problems[s.id].append(f"id repeats (also in {seen_ids[s.id]})")
        seen_ids[s.id] = s.lab_dir.name
        if s.order in seen_orders:
            problems[s.id].append(f"order {s.order} is also used by {seen_orders[s.order]}")
        seen_orders[s.order] = s.id
        problems[s.id].extend(lint_lab(s))
    return problems


@dev_app.command("check")
def cmd_dev_check(
    fast: bool = typer.Option(False, "--fast", help="Lint only; do not run starters and references."),
    lab: Optional[list[str]] = typer.Option(None, "--lab", help="Only these labs (repeatable)."),
    backend: str = typer.Option("llama-cpp", "--backend"),
    device: str = typer.Option("auto", "--device"),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for the model."),
    as_json: bool = JsonOpt,
) -> None:
    """Lint the curriculum; without --fast also grade each starter (must fail) and reference (must pass)."""
    con = out_console(as_json)
    problems = lint_curriculum()
    if lab:
        unknown = [x for x in lab if x not in problems]
        if unknown:
            raise LabError(f"no lab called {', '.join(unknown)}", f"available labs: {', '.join(sorted(problems))}")
        problems = {k: v for k, v in problems.items() if k in lab}
    runs: dict[str, dict] = {}
    if not fast:
        from harness.labs.check import run_check

        for lab_id, lab_problems in problems.items():
            if lab_problems:
                continue  # a lab that does not lint is not worth a model run
            con.print(f"[dim]{lab_id}: grading starter and reference ...[/]")
            with tempfile.TemporaryDirectory(prefix="harness-dev-check-") as tmp:
                # graded from a scratch copy, as a learner's workspace file would be
                copy = Path(tmp) / "starter.py"
                shutil.copy2(_starter_path(lab_id), copy)
                starter = run_check(lab_id, copy, backend=backend, device=device, threads=threads)
            ref = run_check(lab_id, reference=True, backend=backend, device=device, threads=threads)
            runs[lab_id] = {"starter_passed": starter.passed, "starter_error": starter.error.kind if starter.error else None,
                            "reference_passed": ref.passed, "reference_wall_s": ref.wall_s,
                            "reference_error": ref.error.message if ref.error else None}
            if starter.passed:
                lab_problems.append("the starter PASSES the grader (it must fail)")
            if starter.error and starter.error.kind == "internal":
                lab_problems.append(f"the starter hits a grader bug: {starter.error.message}")
            if not ref.passed:
                failed = [c.name for c in ref.criteria if not c.passed]
                why = ref.error.message if ref.error else f"criteria failed: {', '.join(failed)}"
                lab_problems.append(f"the reference FAILS: {why}")
    ok = not any(problems.values())
    if as_json:
        emit_json({"ok": ok, "problems": problems, "runs": runs})
    else:
        table = Table(title="curriculum check" + (" (lint only)" if fast else ""))
        for col in ("lab", "result", "problems"):
            table.add_column(col, overflow="fold")
        for lab_id, ps in problems.items():
            extra = f" (reference {runs[lab_id]['reference_wall_s']:.1f} s)" if lab_id in runs else ""
            table.add_row(lab_id, ("[green]ok[/]" if not ps else "[red]problems[/]") + extra, "\n".join(ps))
        con.print(table)
    raise typer.Exit(0 if ok else 1)


def _starter_path(lab_id: str) -> Path:
    from harness.labs.spec import get_lab

    return get_lab(lab_id).starter_path


def register(app: typer.Typer) -> None:
    app.add_typer(dev_app, name="dev")
