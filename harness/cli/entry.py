"""The `harness` executable.

Commands that run llama.cpp in this process (run, bench, doctor) run in a child of a small
supervisor, so that a native crash there (SIGSEGV, SIGILL) is reported with its cause and a fix
instead of a bare "Segmentation fault". The supervisor imports only the standard library: it costs
one interpreter start, not a second import of typer and rich. The child inherits the terminal, so
streaming, colours and progress bars are unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

SUPERVISED_COMMANDS = ("run", "bench", "doctor")
SUPERVISED_ENV = "HARNESS_SUPERVISED"  # set in the child: it runs the command itself
CRASH_LOG_ENV = "HARNESS_CRASH_LOG"  # where the child's faulthandler writes the stack of a crash


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def supervise(argv: list[str]) -> int:
    with tempfile.NamedTemporaryFile(prefix="harness-crash-", suffix=".log", delete=False) as log:
        log_path = log.name
    try:
        env = dict(os.environ, **{SUPERVISED_ENV: "1", CRASH_LOG_ENV: log_path})
        proc = subprocess.Popen([sys.executable, "-m", "harness", *argv], env=env)
        # Ctrl-C reaches the child from the terminal; the supervisor waits for it to finish cleanly.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            rc = proc.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        if rc >= 0:
            return rc
        from harness.native_crash import crash_advice, signal_name

        sig = signal_name(rc) or f"signal {-rc}"
        with open(log_path, encoding="utf-8", errors="replace") as f:
            stack = f.read()
        if sig == "SIGINT":
            return 130
        message, hint = crash_advice(sig, stack, what=f"harness {_command(argv)}")
        if stack.strip():
            sys.stderr.write(stack.rstrip() + "\n")
        sys.stderr.write(f"error: {message}\n-> {hint}\n")
        return 128 + (-rc)
    finally:
        os.unlink(log_path)


def _arm_crash_log() -> None:
    """In the supervised child: a fatal signal writes the Python stack of every thread to the log."""
    path = os.environ.pop(CRASH_LOG_ENV, None)  # popped: not inherited by what this command starts
    if path:
        import faulthandler

        faulthandler.enable(file=open(path, "w", encoding="utf-8"), all_threads=True)  # noqa: SIM115  kept open


def main() -> None:
    argv = sys.argv[1:]
    supervised = os.environ.pop(SUPERVISED_ENV, None) == "1"
    if not supervised and _command(argv) in SUPERVISED_COMMANDS:
        sys.exit(supervise(argv))
    _arm_crash_log()
    from harness.cli.app import main as app_main

    app_main()
