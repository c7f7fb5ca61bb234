"""`harness leaderboard DIR`: rank the machines of a folder of result files (harness/bench/leaderboard.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import JsonOpt, emit_json, err_console, out_console


def leaderboard_cmd(
    folder: Path = typer.Argument(..., help="A folder or git checkout of result files (*.json, read recursively)."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the leaderboard as one self-contained HTML page."
    ),
    local: bool = typer.Option(
        True, "--local/--no-local", help="Mark the machines like this one (CPU model, cores, RAM, GPUs)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Rank machines per model on one score (LocalScore's formula), next to each lab's accuracy."""
    from rich.markup import escape

    from harness.atomic import atomic_write_text
    from harness.bench import leaderboard as lb
    from harness.errors import HarnessError

    if not folder.is_dir():
        raise HarnessError(
            f"{folder}: not a folder", "pass the folder that holds the result files, e.g. benchmarks/results"
        )

    def skipped(name: str, why: str) -> None:
        err_console.print(f"[yellow]skipped[/] {escape(name)}: {escape(why)}", highlight=False, soft_wrap=True)

    board = lb.read_folder(folder, local=lb.local_machine() if local else None, on_skip=skipped)
    if not board.files:
        n = len(board.skipped)
        found = f"{n} .json file{'s' if n > 1 else ''}, none readable" if n else "no .json files"
        raise HarnessError(
            f"{folder}: no result file could be read ({found})",
            "add files written by `harness bench -o FILE.json` (benchmarks/results/README.md)",
        )
    if output:
        atomic_write_text(output, lb.render_html(board))
    if as_json:
        emit_json(board.to_dict() | ({"html": str(output)} if output else {}))
        return
    con = out_console(False)
    for table in lb.to_rich(board):
        con.print(table)
    con.print(lb.FORMULA, highlight=False)
    if output:
        con.print(
            f"wrote {escape(str(output))} ({len(board.files)} files read, {len(board.skipped)} skipped)",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard_cmd)
