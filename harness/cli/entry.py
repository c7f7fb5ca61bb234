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
import threading

from harness.procs import ENDING_SIGNALS, die_with_parent_preexec, hold_ending_signals

SUPERVISED_COMMANDS = ("run", "bench", "doctor")
SUPERVISED_ENV = "HARNESS_SUPERVISED"  # set in the child: it runs the command itself
CRASH_LOG_ENV = "HARNESS_CRASH_LOG"  # where the child's faulthandler writes the stack of a crash
STOP_GRACE_S = 15.0  # after an ending signal, the child's time to stop its own children and exit


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def supervise(argv: list[str]) -> int:
    with tempfile.NamedTemporaryFile(prefix="harness-crash-", suffix=".log", delete=False) as log:
        log_path = log.name
    try:
        env = dict(os.environ, **{SUPERVISED_ENV: "1", CRASH_LOG_ENV: log_path})
        # Handlers before the Popen, signals held across it: a stop that arrives as the child starts
        # is forwarded to it, never lost with the child left running on its own.
        holder: list[subprocess.Popen] = []
        release = hold_ending_signals()
        ended = _forward_ending_signals(holder)
        try:
            # the child dies with the supervisor, even a SIGKILLed one (harness/procs.py); its
            # preexec_fn also unblocks the held signals, which would survive exec
            holder.append(
                subprocess.Popen(
                    [sys.executable, "-m", "harness", *argv], env=env, preexec_fn=die_with_parent_preexec()
                )
            )
        finally:
            release()
        proc = holder[0]
        rc = proc.wait()
        if rc >= 0:
            return rc
        if -rc in ENDING_SIGNALS or ended:  # stopped, not crashed: no crash advice
            return 128 + (ended[0] if ended else -rc)
        from harness.native_crash import crash_advice, signal_name

        sig = signal_name(rc) or f"signal {-rc}"
        with open(log_path, encoding="utf-8", errors="replace") as f:
            stack = f.read()
        message, hint = crash_advice(sig, stack, what=f"harness {_command(argv)}")
        if stack.strip():
            sys.stderr.write(stack.rstrip() + "\n")
        sys.stderr.write(f"error: {message}\n-> {hint}\n")
        return 128 + (-rc)
    finally:
        os.unlink(log_path)


def _forward_ending_signals(holder: list[subprocess.Popen]) -> list[int]:
    """SIGTERM, SIGHUP and SIGINT go on to the child (holder[0], once started), which stops its own
    children and exits with 128 + the signal; one that does not within STOP_GRACE_S is killed.
    Returns the signals seen."""
    seen: list[int] = []

    def forward(signum: int, frame: object) -> None:
        seen.append(signum)
        if not holder:  # the Popen failed: no child to stop
            raise SystemExit(128 + signum)
        proc = holder[0]
        proc.send_signal(signum)  # a terminal's Ctrl-C reaches it twice: it ignores the duplicate
        if len(seen) == 1:
            timer = threading.Timer(STOP_GRACE_S, proc.kill)
            timer.daemon = True
            timer.start()

    for s in ENDING_SIGNALS:
        signal.signal(s, forward)
    return seen


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
