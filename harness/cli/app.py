"""The `harness` command. HarnessError -> short message + hint + exit code, no traceback."""

from __future__ import annotations

import signal
import sys
from typing import Any

import typer

from harness import __version__
from harness.errors import HarnessError
from harness.procs import Ended, ending_signals

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
    # One way for all: each module's register(app) adds its commands as app.command(NAME)(NAME_cmd) and
    # its groups (models, dev) as app.add_typer; --help lists them in this order.
    from harness.cli import bench, dev, doctor, labs, leaderboard, models, run

    for module in (run, models, doctor, labs, dev, bench, leaderboard):
        module.register(app)


_register_commands()


def _interrupted(signum: int = signal.SIGINT) -> None:
    from harness.cli.common import interrupt_note

    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    note = interrupt_note() or "the command was stopped before it finished"
    try:
        print(f"interrupted ({name}): {note}", file=sys.stderr)
    except OSError:  # SIGHUP: the terminal may be gone
        pass
    sys.exit(128 + signum)


def main() -> None:
    # SIGTERM / SIGHUP / SIGINT stop this command's child processes first (harness/procs.py)
    from harness.cli.common import on_interrupt

    on_interrupt(None)  # a command says what it is doing
    with ending_signals():
        _main()


def _main() -> None:
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
        # soft_wrap: a path in the message stays whole (copyable) however narrow the terminal
        err_console.print(f"[bold red]error:[/] {escape(e.message)}", highlight=False, soft_wrap=True)
        if e.hint:
            err_console.print(f"[yellow]->[/] {escape(e.hint)}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except Ended as e:
        _interrupted(e.signum)
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
            usage_error: Any = e  # either click's ClickException or typer's vendored copy of it
            usage_error.show()
            sys.exit(usage_error.exit_code)
        raise
