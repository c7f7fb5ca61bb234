"""`harness labs | start | check | hint | reset | watch`: the learner's commands."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from harness.cli.common import (
    BackendOpt,
    BaseUrlOpt,
    DeviceOpt,
    EmbedBackendOpt,
    JsonOpt,
    LabModelOpt,
    LimitOpt,
    PrefixCacheOpt,
    SeedOpt,
    ThreadsOpt,
    apply_prefix_cache,
    emit_json,
    err_console,
    on_interrupt,
    out_console,
)
from harness.errors import LabError

PROGRESS_INTERVAL_ENV = "HARNESS_PROGRESS_INTERVAL_S"  # seconds between "still running" lines (default 10)

DirOpt = typer.Option(None, "--dir", help="Workspace folder (default ./labs-workspace/<id>/).")
# check and watch grade the same way (the model options are harness/cli/common.py's)
TimeoutOpt = typer.Option(
    None,
    "--timeout",
    min=1,
    help="Seconds before the check is stopped (default: the lab's limit; raise it on a slow machine).",
)


def _progress():
    from harness.labs.progress import Progress, ProgressWarning

    warnings.simplefilter("always", ProgressWarning)
    return Progress()


def _warn_to(console):
    """Show progress-file warnings as one yellow line instead of a Python warning."""

    def show(message, category, *args, **kwargs):
        console.print(f"[yellow]warning:[/] {message}", highlight=False)

    warnings.showwarning = show


def labs_cmd(as_json: bool = JsonOpt) -> None:
    """The curriculum and your progress in each lab."""
    from harness.labs.spec import discover

    con = out_console(as_json)
    _warn_to(con)
    specs = discover()
    progress = _progress().load().labs
    rows: list[dict[str, Any]] = []
    for s in specs:
        p = progress.get(s.id)
        rows.append(
            {
                "order": s.order,
                "id": s.id,
                "title": s.title,
                "outcome": s.outcome,
                "state": p.state if p else "not started",
                "best_score": p.best_score if p else None,
                "hints_shown": p.hints_shown if p else 0,
                "time_budget_min": s.time_budget_min,
            }
        )
    if as_json:
        emit_json({"labs": rows})
        return
    table = Table(title="Labs", show_lines=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("title", ratio=2, overflow="fold")
    wide = con.width >= 140  # the outcome sentences only read well on a wide terminal
    if wide:
        table.add_column("outcome", ratio=3, overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("best", justify="right", no_wrap=True)
    colour = {"passed": "green", "failing": "red", "started": "yellow"}
    for r in rows:
        best = "" if r["best_score"] is None else f"{r['best_score']:.0%}"
        st = r["state"]
        cells = [str(r["order"]), r["id"], r["title"]] + ([r["outcome"]] if wide else [])
        table.add_row(*cells, f"[{colour.get(st, 'dim')}]{st}[/]", best)
    con.print(table)
    con.print("Start one with [bold]harness start <id>[/], then [bold]harness check <id>[/].")


def start_cmd(
    lab: str = typer.Argument(..., help="Lab id, e.g. first-tokens."),
    dir: Path | None = DirOpt,
    force: bool = typer.Option(False, "--force", help="Replace edited work (kept as a .bak copy)."),
    as_json: bool = JsonOpt,
) -> None:
    """Copy a lab's starter and brief into your workspace."""
    from harness.labs import workspace
    from harness.labs.spec import get_lab

    con = out_console(as_json)
    _warn_to(con)
    spec = get_lab(lab)
    res = workspace.start(spec, dir, force=force)
    _progress().record_start(spec.id, res.workspace)
    if as_json:
        emit_json(
            {
                "lab": spec.id,
                "solution": str(res.solution),
                "readme": str(res.readme),
                "replaced": res.replaced,
                "backup": str(res.backup) if res.backup else None,
            }
        )
        return
    con.print(f"[bold]{spec.title}[/]\n{spec.outcome}\n")
    if res.backup:
        con.print(f"your previous work is in {res.backup}")
    con.print(f"edit   {res.solution}\nbrief  {res.readme}")
    check = f"harness check {spec.id}" + (f" --dir {dir}" if dir else "")
    con.print(f"then   [bold]{check}[/]   (or [bold]harness watch {spec.id}[/] to re-check on save)")


def _print_report(con, r) -> None:
    status = "[bold green]PASSED[/]" if r.passed else "[bold red]FAILED[/]"
    con.print(f"{status}  {r.lab} (v{r.lab_version}) - {r.title}")
    con.print(
        f"[dim]solution {r.solution} | model {r.model} | backend {r.backend} | device {r.device} | "
        f"seed {r.seed} | {r.wall_s:.1f} s[/]"
    )
    if r.error:
        label = "" if r.error.kind == "not_implemented" else f"{r.error.kind.replace('_', ' ')}: "
        con.print(f"\n[bold red]{label}{r.error.message}[/]", highlight=False)
        if r.error.traceback:
            con.print(r.error.traceback.rstrip(), highlight=False, markup=False)
    _print_criteria(con, r)
    t = r.timings
    parts = []
    for key, label, fmt in (
        ("load_s", "model load", "{:.2f} s"),
        ("item_p50_s", "per item p50", "{:.3f} s"),
        ("item_p95_s", "p95", "{:.3f} s"),
        ("tokens_out", "tokens out", "{}"),
        ("tokens_in", "tokens in", "{}"),
        ("grade_s", "graded in", "{:.1f} s"),
    ):
        if t.get(key) is not None:
            parts.append(f"{label} {fmt.format(t[key])}")
    if parts:
        con.print("[dim]timings: " + " | ".join(parts) + "[/]")
    pc = ((r.backends.get("chat") or {}).get("extra") or {}).get("prompt_cache") or {}
    if pc.get("calls"):
        line = f"prompt cache: {pc['cached_tokens']} of {pc['prompt_tokens']} prompt tokens reused over {pc['calls']} calls"
        if pc.get("ttft_cold_p50_s") is not None and pc.get("ttft_cached_p50_s") is not None:
            line += f" | TTFT p50 cold {pc['ttft_cold_p50_s']:.3f} s, cached {pc['ttft_cached_p50_s']:.3f} s"
        con.print(f"[dim]{line}[/]")
    for n in r.notes:  # a grader's text (a trace may hold "[...]"): printed as is, never as markup
        con.print(f"note: {n}", highlight=False, markup=False)
    if r.output.stdout.strip() and not r.passed:
        con.print(f"[dim]your code printed ({r.output.stdout_bytes} bytes):[/]")
        con.print(r.output.stdout.strip()[-2000:], highlight=False, markup=False)
    _print_next_steps(con, r)
    if r.calibrated_on:
        con.print(f"[dim]thresholds calibrated on: {'; '.join(r.calibrated_on)}[/]")


def _print_criteria(con, r) -> None:
    if r.nothing_measured():  # a table of "not measured" says nothing the error does not (--json keeps it all)
        why = "the file did not import" if r.error.stage == "import" else "see the error above"
        width = max(len(c.name) for c in r.criteria)
        con.print("")
        for c in r.criteria:
            con.print(f"  {c.name:<{width}}   not measured ({why})", highlight=False, markup=False)
        return
    table = Table(show_header=True)
    for col in ("criterion", "measured", "required", "result", "what it means"):
        table.add_column(col, overflow="fold")
    for c in r.criteria:
        v = "not measured" if c.value is None else f"{c.value:.4g}"
        table.add_row(c.name, v, c.required, "[green]pass[/]" if c.passed else "[red]fail[/]", c.description)
    con.print(table)


def _print_next_steps(con, r) -> None:
    if r.next_steps:
        con.print("\n[bold]what to try next[/]")
        for s in r.next_steps:
            con.print(f"  - {s}", highlight=False)


def _still_running(progress, elapsed_s: float, limit_s: float) -> None:
    """Prints "still running: item 12 of 40, 35 s" on stderr (never into --json stdout); `what` is
    the grader's text: printed, never parsed."""
    from rich.markup import escape

    from harness.labs.liveness import status_line

    err_console.print(f"[dim]{escape(status_line(progress, elapsed_s, limit_s))}[/]", highlight=False)


def _progress_interval() -> float:
    import os

    try:
        value = float(os.environ.get(PROGRESS_INTERVAL_ENV) or 10.0)
    except ValueError:
        return 10.0
    return value if value > 0 else 10.0


def _check(
    lab: str,
    *,
    solution,
    reference,
    model,
    backend,
    embed_backend,
    device,
    dataset,
    limit,
    seed,
    timeout,
    threads,
    dir,
    record: bool,
):
    from harness.labs.check import run_check

    on_interrupt(f"the check of {lab} was stopped (its process was ended); nothing was saved")
    report = run_check(
        lab,
        solution,
        reference=reference,
        model=model,
        backend=backend,
        embed_backend=embed_backend,
        device=device,
        dataset=dataset,
        limit=limit,
        seed=seed,
        timeout_s=timeout,
        threads=threads,
        workspace_dir=dir,
        on_progress=_still_running,
        progress_every_s=_progress_interval(),
    )
    on_interrupt(None)
    if record and not reference:
        _progress().record_check(report.lab, passed=report.passed, score=report.score, lab_version=report.lab_version)
    return report


def check_cmd(
    lab: str = typer.Argument(..., help="Lab id."),
    solution: Path | None = typer.Option(None, "--solution", help="File to grade (default: your workspace file)."),
    reference: bool = typer.Option(False, "--reference", help="Grade the lab's reference solution."),
    model: str | None = LabModelOpt,
    backend: str = BackendOpt,
    embed_backend: str | None = EmbedBackendOpt,
    base_url: str | None = BaseUrlOpt,
    device: str = DeviceOpt,
    dataset: Path | None = typer.Option(None, "--dataset", help="Another data file in the lab's format."),
    limit: int | None = LimitOpt,
    seed: int = SeedOpt,
    timeout: float | None = TimeoutOpt,
    threads: int | None = ThreadsOpt,
    dir: Path | None = DirOpt,
    prefix_cache: bool = PrefixCacheOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Grade your solution on a real local model. Exit 0 on pass, 1 on fail."""
    from harness.backends.http_common import export_base_url

    export_base_url(backend, base_url)  # the grader's child process inherits it
    apply_prefix_cache(prefix_cache)
    con = out_console(as_json)
    _warn_to(con)
    from harness.labs.spec import get_lab

    get_lab(lab)  # an unknown id fails here, before anything is printed
    if not as_json:
        con.print(f"[dim]checking {lab} ...[/]")
    report = _check(
        lab,
        solution=solution,
        reference=reference,
        model=model,
        backend=backend,
        embed_backend=embed_backend,
        device=device,
        dataset=dataset,
        limit=limit,
        seed=seed,
        timeout=timeout,
        threads=threads,
        dir=dir,
        record=True,
    )
    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        _print_report(con, report)
    raise typer.Exit(0 if report.passed else 1)


def hint_cmd(lab: str = typer.Argument(..., help="Lab id."), as_json: bool = JsonOpt) -> None:
    """Show the next hint for a lab (the count is remembered)."""
    from harness.labs.spec import get_lab

    con = out_console(as_json)
    _warn_to(con)
    spec = get_lab(lab)
    i, entry = _progress().next_hint(spec.id, len(spec.hints))
    if as_json:
        emit_json({"lab": spec.id, "hint": spec.hints[i], "number": i + 1, "of": len(spec.hints)})
        return
    con.print(f"[bold]hint {i + 1}/{len(spec.hints)}[/] {spec.hints[i]}", highlight=False)
    if i + 1 == len(spec.hints):
        con.print("[dim]that was the last hint; the reference is labs/" + spec.id + "/solution.py[/]")


def reset_cmd(lab: str = typer.Argument(..., help="Lab id."), as_json: bool = JsonOpt) -> None:
    """Forget a lab's progress and hints (your workspace file is kept)."""
    from harness.labs.spec import get_lab

    con = out_console(as_json)
    _warn_to(con)
    spec = get_lab(lab)
    _progress().reset(spec.id)
    if as_json:
        emit_json({"lab": spec.id, "reset": True})
        return
    con.print(
        f"progress of {spec.id} reset. Your workspace file was kept; "
        f"`harness start {spec.id} --force` replaces it with the starter."
    )


def _watch_target(lab: str | None):
    from harness.labs.spec import discover, get_lab

    if lab:
        return get_lab(lab)
    progress = _progress().load().labs
    started = [s for s in discover() if s.id in progress and progress[s.id].state != "passed"]
    if not started:
        raise LabError(
            "no lab in progress to watch", "name one (`harness watch first-tokens`) or `harness start LAB` first"
        )
    return started[0]


def watch_cmd(
    lab: str | None = typer.Argument(None, help="Lab id (default: the first started lab not yet passed)."),
    model: str | None = LabModelOpt,
    backend: str = BackendOpt,
    embed_backend: str | None = EmbedBackendOpt,
    base_url: str | None = BaseUrlOpt,
    device: str = DeviceOpt,
    limit: int | None = LimitOpt,
    seed: int = SeedOpt,
    timeout: float | None = TimeoutOpt,
    threads: int | None = ThreadsOpt,
    dir: Path | None = DirOpt,
    interval: float = typer.Option(1.0, "--interval", help="Seconds between looks at the file."),
    prefix_cache: bool = PrefixCacheOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Re-check your solution every time you save it. Ctrl-C stops."""
    from harness.backends.http_common import export_base_url
    from harness.labs.workspace import default_solution_path

    export_base_url(backend, base_url)
    apply_prefix_cache(prefix_cache)
    con = out_console(as_json)
    _warn_to(con)
    spec = _watch_target(lab)
    path = default_solution_path(spec, dir)
    if not path.is_file():
        raise LabError(f"no solution file at {path}", f"run `harness start {spec.id}` first")
    con.print(f"watching {path} (Ctrl-C to stop)")
    last = None
    try:
        while True:
            mtime = path.stat().st_mtime_ns if path.exists() else None
            if mtime is not None and mtime != last:
                last = mtime
                report = _check(
                    spec.id,
                    solution=path,
                    reference=False,
                    model=model,
                    backend=backend,
                    embed_backend=embed_backend,
                    device=device,
                    dataset=None,
                    limit=limit,
                    seed=seed,
                    timeout=timeout,
                    threads=threads,
                    dir=dir,
                    record=True,
                )
                if as_json:
                    emit_json(report.model_dump(mode="json"))
                else:
                    _print_report(con, report)
                    con.print(f"[dim]waiting for the next save of {path.name} ...[/]")
            time.sleep(interval)
    except KeyboardInterrupt:
        con.print("stopped watching")
        raise typer.Exit(0) from None


def register(app: typer.Typer) -> None:
    app.command("labs")(labs_cmd)
    app.command("start")(start_cmd)
    app.command("check")(check_cmd)
    app.command("hint")(hint_cmd)
    app.command("reset")(reset_cmd)
    app.command("watch")(watch_cmd)
