"""What to tell the user when a process of ours dies of a signal: never a bare "Segmentation fault".

Used for every child the harness starts (lab checks, bench cells, the doctor's test generation) and
for `harness run` / `bench` / `doctor`, which run under a small supervisor (harness.cli.entry) for this.
"""

from __future__ import annotations

import signal

# Signals a crash in native code dies of (as opposed to SIGKILL from the OOM killer, or SIGINT).
NATIVE_CRASH_SIGNALS = {
    "SIGSEGV": "a segmentation fault",
    "SIGILL": "an illegal instruction",
    "SIGBUS": "a bus error",
    "SIGFPE": "an arithmetic fault",
    "SIGABRT": "an abort",
}


def signal_name(returncode: int | None) -> str | None:
    """SIGSEGV for a child's returncode -11 (Python's way) or 139 (a shell's 128 + 11); else None."""
    if returncode is None or returncode == 0:
        return None
    num = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 128 + 65 else None
    if num is None:
        return None
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def in_llama_cpp(output: str) -> bool:
    """Python's faulthandler stack (PYTHONFAULTHANDLER, set for our children) names the frame that
    was running: llama-cpp-python's module or our backend around it."""
    return any(s in output for s in ("llama_cpp/", "llama_cpp\\", "backends/llama_cpp.py", "backends\\llama_cpp.py"))


def crash_advice(sig: str, output: str = "", *, what: str = "the process") -> tuple[str, str]:
    """(message, hint) for a process that died of `sig`; `output` is its stderr (for the stack)."""
    from harness.llama_build import rebuild_hint

    kind = NATIVE_CRASH_SIGNALS.get(sig)
    if kind is None:
        why = "; perhaps memory: the system killed it" if sig == "SIGKILL" else ""
        return f"{what} was killed by {sig}{why}", "run it again; if it keeps happening, run `harness doctor`"
    where = " inside llama.cpp" if in_llama_cpp(output) else ""
    message = f"{what} crashed: {sig} ({kind}) in native code{where}"
    hint = (
        "run `harness doctor`: its test generation tells whether this llama.cpp build crashes on this CPU. "
        f"If it does, {rebuild_hint()}"
    )
    return message, hint
