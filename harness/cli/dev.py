"""`harness dev check`: lint the curriculum, then grade every starter (must fail), reference (must pass)
and wrong solution (must fail on its declared criteria): harness/labs/curriculum.py."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from harness.cli.common import BackendOpt, DeviceOpt, JsonOpt, ThreadsOpt, emit_json, out_console
from harness.errors import LabError
from harness.labs.curriculum import RunResult, check_lab, folder_problems, top_level_functions
from harness.labs.grader_settings import grader_settings_problems

dev_app = typer.Typer(help="Commands for lab authors.", no_args_is_help=True)

META_FILES = {"LICENSE", "LICENSE.txt", "LICENSE.md", "PROVENANCE.md", "README.md"}


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
            funcs = top_level_functions(p)
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
            if "grade" not in top_level_functions(d / "grader.py"):
                problems.append("grader.py does not define grade(solution, ctx)")
        except SyntaxError as e:
            problems.append(f"grader.py does not parse: {e}")
    problems.extend(folder_problems(spec))
    problems.extend(grader_settings_problems(spec))  # lab.toml's [grader] against grader.py's Settings
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
    seen_ids: dict[str, str] = {}  # id -> folder
    seen_orders: dict[int, str] = {}  # order -> id
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


def check_cmd(
    fast: bool = typer.Option(
        False, "--fast", help="Lint only; do not grade starters, references and wrong solutions."
    ),
    lab: list[str] | None = typer.Option(None, "--lab", help="Only these labs (repeatable)."),
    backend: str = BackendOpt,
    device: str = DeviceOpt,
    threads: int | None = ThreadsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Lint the curriculum; without --fast also grade each starter (must fail), reference (must pass, also on
    its [dev] reference_datasets) and wrong solution (must fail on its [[dev.wrong]] must_fail criteria)."""
    from harness.labs.spec import get_lab

    con = out_console(as_json)
    problems = lint_curriculum()
    if lab:
        unknown = [x for x in lab if x not in problems]
        if unknown:
            raise LabError(f"no lab called {', '.join(unknown)}", f"available labs: {', '.join(sorted(problems))}")
        problems = {k: v for k, v in problems.items() if k in lab}
    runs: dict[str, dict] = {}
    rows: list[RunResult] = []
    if not fast:
        for lab_id, lab_problems in problems.items():
            if lab_problems:
                continue  # a lab that does not lint is not worth a model run
            spec = get_lab(lab_id)
            con.print(
                f"[dim]{lab_id}: grading the starter, the reference and {len(spec.dev.wrong)} wrong solution(s) ...[/]"
            )
            results = check_lab(
                spec,
                on_result=lambda r: con.print(f"[dim]  {r.run}: {'ok' if r.ok else 'PROBLEMS'} ({r.wall_s:.1f} s)[/]"),
                backend=backend,
                device=device,
                threads=threads,
            )
            rows.extend(results)
            lab_problems.extend(f"{r.run}: {p}" for r in results for p in r.problems)
            starter, ref = results[0], results[1]
            runs[lab_id] = {
                "starter_passed": starter.passed,
                "reference_passed": ref.passed,
                "reference_wall_s": ref.wall_s,
                "runs": [r.model_dump() for r in results],
            }
    ok = not any(problems.values())
    if as_json:
        emit_json({"ok": ok, "problems": problems, "runs": runs})
    else:
        con.print(_table(problems, rows, fast))
    raise typer.Exit(0 if ok else 1)


def _table(problems: dict[str, list[str]], rows: list[RunResult], fast: bool) -> Table:
    """One row per lab's lint, then one per graded run: lab, run, result, wall s, problems."""
    table = Table(title="curriculum check" + (" (lint only)" if fast else ""))
    for col in ("lab", "run", "result", "wall s", "problems"):
        table.add_column(
            col, overflow="fold", justify="right" if col == "wall s" else "left", no_wrap=col in ("lab", "run")
        )

    def mark(ok: bool) -> str:
        return "[green]ok[/]" if ok else "[red]problems[/]"

    graded = {r.lab for r in rows}
    for lab_id, ps in problems.items():
        lint = [] if lab_id in graded else ps  # a lab is graded only when it lints clean
        table.add_row(lab_id, "lint", mark(not lint), "", "\n".join(lint))
        for r in (r for r in rows if r.lab == lab_id):
            verdict = "" if r.passed is None else (" (passes)" if r.passed else " (fails)")  # the grader's verdict
            table.add_row("", r.run, mark(r.ok) + verdict, f"{r.wall_s:.1f}", "\n".join(r.problems))
        if not fast and lab_id not in graded:
            table.add_row("", "graded runs", "[yellow]skipped[/]", "", "the lab does not lint")
    return table


def register(app: typer.Typer) -> None:
    dev_app.command("check")(check_cmd)
    app.add_typer(dev_app, name="dev")
