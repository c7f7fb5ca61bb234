"""Child processes that end with their parent. Standard library only: the supervisor uses it.

- `ending_signals()`: on SIGTERM, SIGHUP or SIGINT, stop every child `track()`ed by this process
  (a learner's process group: SIGKILL; one of the harness's own processes: SIGTERM, so that it
  ends its own children first), then raise `Ended` (SIGINT: KeyboardInterrupt), so the command
  can say what it stopped and exit with 128 + the signal.
- `hold_ending_signals()`: around a Popen, until its process is `track()`ed: a signal in between
  is handled once it is tracked, not in a window where it would leave the child running.
- `die_with_parent()`: on Linux, PR_SET_PDEATHSIG: the kernel SIGKILLs the child when its parent
  dies, even by SIGKILL. Elsewhere (macOS) it does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
PR_SET_PDEATHSIG = 1
DUPLICATE_WINDOW_S = 2.0  # a terminal's Ctrl-C reaches us directly and again via the supervisor


class Ended(BaseException):
    """SIGTERM or SIGHUP arrived. A BaseException, so `except Exception` in a grader or a library
    does not swallow it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_tracked: dict[int, bool] = {}  # pid -> it leads its own process group (kill the group)
_ended_at: float | None = None
_held: list[int] | None = None  # while hold_ending_signals() holds: the signals that arrived


@contextmanager
def track(proc: subprocess.Popen, *, own_group: bool) -> Iterator[subprocess.Popen]:
    """While the block runs, an ending signal stops `proc` before anything else happens."""
    _tracked[proc.pid] = own_group
    try:
        yield proc
    finally:
        _tracked.pop(proc.pid, None)


def stop_tracked() -> None:
    for pid, own_group in list(_tracked.items()):
        try:
            if own_group:
                os.killpg(pid, signal.SIGKILL)  # the learner's code and all it started
            else:
                os.kill(pid, signal.SIGTERM)  # ours: it stops its own children, then exits
        except (ProcessLookupError, PermissionError):
            pass


def _on_signal(signum: int, frame: object) -> None:
    global _ended_at
    if _held is not None:
        # a thread that does not block the signal took it; Python runs us in the main thread, maybe
        # between a Popen and its track(): note it, release() handles it once the child is tracked
        _held.append(signum)
        return
    if _ended_at is not None:
        if time.monotonic() - _ended_at < DUPLICATE_WINDOW_S:
            return  # the same stop delivered twice: already ending
        stop_tracked()  # asked again later: the first one was swallowed somewhere, end now
        os._exit(128 + signum)
    _ended_at = time.monotonic()
    stop_tracked()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Ended(signum)


@contextmanager
def ending_signals() -> Iterator[None]:
    """Handle the ending signals for the duration of the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in ENDING_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            # once ending, stay deaf: a late duplicate must not interrupt the exit
            signal.signal(s, signal.SIG_IGN if _ended_at is not None else handler)


def hold_ending_signals() -> Callable[[], None]:
    """Block the ending signals (main thread only) until the returned call, which is idempotent.

    Call it just before a Popen and release inside `track()`: a signal between Popen returning and
    the track would otherwise end this process with the child untracked, left running. The mask is
    inherited by the child and survives exec: its preexec_fn must `unblock_ending_signals()`.
    """
    global _held
    if threading.current_thread() is not threading.main_thread() or _held is not None:
        return lambda: None
    old = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
    _held = []
    released = False

    def release() -> None:
        global _held
        nonlocal released
        if released:
            return
        released = True
        arrived, _held = _held or [], None
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # one blocked meanwhile is handled now
        if arrived:
            _on_signal(arrived[0], None)

    return release


def unblock_ending_signals() -> None:
    """A Popen preexec_fn: the child must not start with the signals hold_ending_signals() blocked."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, ENDING_SIGNALS)


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End one of the harness's own children: SIGTERM, then SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: `harness --help` need not load it

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _set_pdeathsig(prctl: Callable[..., int] | None, parent_pid: int | None) -> bool:
    if prctl is None:
        return False
    import ctypes

    if (
        prctl(
            ctypes.c_int(PR_SET_PDEATHSIG),
            ctypes.c_ulong(signal.SIGKILL),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        != 0
    ):
        return False
    # the parent may have died before the call above: then we were already re-parented
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def die_with_parent(parent_pid: int | None = None) -> bool:
    """At a child's start: SIGKILL this process when its parent dies (Linux; False elsewhere).
    The "parent" is the thread that started it, so start children from a thread that waits."""
    return _set_pdeathsig(_prctl(), parent_pid)


def die_with_parent_preexec(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A Popen preexec_fn doing die_with_parent in the forked child (the setting survives exec),
    then `then`. prctl is looked up here, before the fork, so the child does no dlopen."""
    parent, prctl = os.getpid(), _prctl()

    def apply() -> None:
        unblock_ending_signals()  # the mask of hold_ending_signals() would survive exec
        _set_pdeathsig(prctl, parent)
        if then is not None:
            then()

    return apply
