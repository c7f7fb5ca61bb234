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


def main() -> None:
    try:
        app(standalone_mode=False)
    except HarnessError as e:
        from harness.cli.common import err_console

        err_console.print(f"[bold red]error:[/] {e.message}", highlight=False)
        if e.hint:
            err_console.print(f"[yellow]->[/] {e.hint}", highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except (typer.Exit, SystemExit) as e:
        code = getattr(e, "exit_code", None)
        if code is None:
            code = getattr(e, "code", 0)
        sys.exit(code or 0)
    except typer.Abort:
        sys.exit(1)
    except Exception as e:  # click usage errors come here in non-standalone mode
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
