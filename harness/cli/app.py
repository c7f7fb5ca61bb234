"""The `harness` command. HarnessError -> short message + hint + exit code, no traceback."""

from __future__ import annotations

import sys

import typer

from harness import __version__
from harness.errors import HarnessError

app = typer.Typer(
    name="harness",
    help="Graded AI-engineering labs and benchmarks on small local models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


def _register_commands() -> None:
    # Each module adds its commands; none of them imports llama_cpp/dspy/faiss at module level.
    from harness.cli import bench, dev, doctor, labs, models, run

    for module in (run, models, doctor, labs, dev, bench):
        module.register(app)


_register_commands()


def _interrupted() -> None:
    print(
        "interrupted (Ctrl-C). Nothing half-written was kept in place: a partial download stays in the "
        "store's temp folder and the same command resumes it (e.g. `harness models pull NAME`).",
        file=sys.stderr,
    )
    sys.exit(130)


def main() -> None:
    try:
        rc = app(standalone_mode=False)
        # click returns (not raises) typer.Exit(n)'s code when standalone_mode is False;
        # typer turns Ctrl-C into Exit(130)
        if rc == 130:
            _interrupted()
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except HarnessError as e:
        from rich.markup import escape

        from harness.cli.common import err_console

        # user text (lab ids, file names) may contain [brackets]: print it, never parse it
        err_console.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False)
        if e.hint:
            err_console.print(f"[yellow]->[/] {escape(e.hint)}", highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except (typer.Exit, SystemExit) as e:
        code = getattr(e, "exit_code", None)
        if code is None:
            code = getattr(e, "code", 0)
        sys.exit(code or 0)
    except typer.Abort:
        _interrupted()
    except Exception as e:  # click usage errors come here in non-standalone mode
        import click

        # typer >= 0.20 raises its vendored click's exceptions (typer._click), not click's
        if isinstance(e, click.ClickException) or type(e).__module__.startswith("typer._click"):
            e.show()
            sys.exit(e.exit_code)
        raise
