"""The harness's own child processes: `python -m MODULE REQUEST.json REPLY.json`, one pydantic
request in and one pydantic reply back, run the same way for a lab's check and a bench cell.

Parent side: `run_child_process()` writes the request, starts the child with the ending signals
held until it is tracked (harness/procs.py), SIGKILLs it with its parent (PR_SET_PDEATHSIG), keeps
the head and tail of its output, stops it at the time limit, and reads and validates its reply.
`signal_death()` turns a death by a signal into the native-crash report (harness/native_crash.py).
Child side: `read_request()` and `write_reply()`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import HarnessError
from harness.procs import die_with_parent_preexec, hold_ending_signals, stop, track, unblock_ending_signals

OUTPUT_CAP_BYTES = 64 * 1024  # kept of each stream: the first half and the last half


class Message(BaseModel):
    """A request or a reply. Frozen, and a key the other side does not know is an error, not
    ignored. NaN and infinities cross as JSON's NaN/Infinity, as json.dumps wrote them before."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


MessageT = TypeVar("MessageT", bound=Message)


class MessageError(HarnessError):
    """A request or reply that does not match its model: a bug in the harness, named by field."""


def parse_message(kind: type[MessageT], text: str, source: str) -> MessageT:
    """`text` as a `kind`; a mismatch raises MessageError naming each wrong field."""
    try:
        return kind.model_validate_json(text)
    except ValidationError as e:
        fields = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            fields.append(f"{where}: {'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}")
        raise MessageError(
            f"{source} is not a valid {kind.__name__}: " + "; ".join(fields),
            "the parent and the child process come from different harness versions, or a bug",
        ) from None


class CappedBuffer:
    """Keeps the head and the tail of a stream, counts the rest."""

    def __init__(self, cap: int = OUTPUT_CAP_BYTES):
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail.append(data)
            self.tail_len += len(data)
            while self.tail and self.tail_len - len(self.tail[0]) >= self.tail_cap:
                self.tail_len -= len(self.tail.popleft())

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + min(self.tail_len, self.tail_cap)

    def text(self) -> str:
        tail = b"".join(self.tail)[-self.tail_cap :] if self.tail else b""
        head = self.head.decode("utf-8", "replace")
        if not self.truncated:
            return head + tail.decode("utf-8", "replace")
        skipped = self.total - len(self.head) - len(tail)
        return f"{head}\n[... {skipped} bytes not shown ...]\n{tail.decode('utf-8', 'replace')}"


def _drain(stream: IO[bytes], buf: CappedBuffer) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        buf.feed(chunk)


@dataclass(frozen=True)
class ChildRun(Generic[MessageT]):
    reply: MessageT | None  # None: it wrote none (it died or ran out of time first), or a malformed one
    reply_problem: str | None  # why a reply it wrote was not accepted
    returncode: int | None
    timed_out: bool
    wall_s: float
    stdout: CappedBuffer
    stderr: CappedBuffer  # the same buffer as stdout when merge_stderr


def signal_death(returncode: int | None, output: str, what: str) -> tuple[str, str] | None:
    """(message, hint) for a child that died of a signal, a native crash named as one (and where,
    from the faulthandler stack in `output`); None when it exited by itself."""
    if returncode is None or returncode >= 0:
        return None
    from harness.native_crash import crash_advice, signal_name

    return crash_advice(signal_name(returncode) or str(-returncode), output, what=what)


def run_child_process(
    module: str,
    request: Message,
    reply_type: type[MessageT],
    *,
    timeout_s: float,
    own_group: bool,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    die_with_parent_at_fork: bool = True,
    pass_fds: Sequence[int] = (),
    merge_stderr: bool = False,
    output_cap: int = OUTPUT_CAP_BYTES,
    on_started: Callable[[], None] | None = None,
    on_tick: Callable[[float], None] | None = None,
    tick_s: float = 10.0,
) -> ChildRun[MessageT]:
    """Run `python -m module REQUEST.json REPLY.json` to its end or for timeout_s at most.

    own_group: the child leads its own process group (a learner's code and all it starts): a stop
    or a timeout SIGKILLs the group, and so does the end of the run (what it left running). Else it
    is one of ours: SIGTERM, so it ends its own children first, SIGKILL 5 s later.
    die_with_parent_at_fork=False: the child calls procs.die_with_parent() itself (a bench cell: its
    parent has threads). on_started() runs once the child is tracked; on_tick(elapsed s) every tick_s.
    """
    with tempfile.TemporaryDirectory(prefix="harness-child-") as tmp:
        req_path, reply_path = Path(tmp) / "request.json", Path(tmp) / "reply.json"
        req_path.write_text(request.model_dump_json(), encoding="utf-8")
        out_buf = CappedBuffer(output_cap)
        err_buf = out_buf if merge_stderr else CappedBuffer(output_cap)
        if die_with_parent_at_fork:
            start = die_with_parent_preexec(then=preexec)  # it unblocks the held signals too
        else:
            start = _then(unblock_ending_signals, preexec)  # the held mask would survive exec
        end = _kill_group if own_group else stop
        proc: subprocess.Popen | None = None
        readers: list[threading.Thread] = []
        t0 = time.perf_counter()
        release = hold_ending_signals()  # until tracked: a signal right after Popen must not orphan it
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, str(req_path), str(reply_path)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                pass_fds=tuple(pass_fds),
                preexec_fn=start,
                start_new_session=own_group,
            )
            with track(proc, own_group=own_group):  # an ending signal stops it first
                release()  # a signal held since before the Popen is handled here, the child tracked
                if on_started is not None:
                    on_started()
                streams = [(proc.stdout, out_buf)] + ([] if merge_stderr else [(proc.stderr, err_buf)])
                readers = [threading.Thread(target=_drain, args=s, daemon=True) for s in streams]
                for r in readers:
                    r.start()
                timed_out = _wait(proc, t0, timeout_s, on_tick, tick_s)
                wall = time.perf_counter() - t0
                if timed_out:
                    end(proc)
        except BaseException:  # Ctrl-C or SIGTERM in the parent: do not leave the child running
            if proc is not None:
                end(proc)
            release()  # last: a held signal raises here, the child already stopped
            raise
        if own_group:
            _kill_group(proc)  # anything the learner's code left running in the background
        for r in readers:
            r.join(timeout=5)
        reply, problem = _read_reply(reply_path, reply_type)
        return ChildRun(
            reply=reply,
            reply_problem=problem,
            returncode=proc.returncode,
            timed_out=timed_out,
            wall_s=wall,
            stdout=out_buf,
            stderr=err_buf,
        )


def _then(first: Callable[[], None], then: Callable[[], None] | None) -> Callable[[], None]:
    def apply() -> None:
        first()
        if then is not None:
            then()

    return apply


def _read_reply(path: Path, reply_type: type[MessageT]) -> tuple[MessageT | None, str | None]:
    if not path.is_file():
        return None, None
    try:
        return parse_message(reply_type, path.read_text(encoding="utf-8"), "the child's reply"), None
    except (MessageError, UnicodeDecodeError) as e:
        return None, str(e)


def _wait(
    proc: subprocess.Popen, t0: float, timeout_s: float, on_tick: Callable[[float], None] | None, every_s: float
) -> bool:
    """Wait for the child; True when it ran past timeout_s."""
    deadline = t0 + timeout_s
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return True
        try:
            proc.wait(timeout=min(left, every_s) if on_tick else left)
            return False
        except subprocess.TimeoutExpired:
            if on_tick is not None and time.perf_counter() < deadline:
                try:
                    on_tick(time.perf_counter() - t0)
                except Exception:  # a progress line (a closed stderr: OSError) never fails the run
                    pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


# The child's side


def read_request(argv: list[str], request_type: type[MessageT]) -> tuple[MessageT, Path]:
    """The request a child was started with, and where its reply goes. A malformed request raises
    MessageError naming the fields; the wrong number of arguments, SystemExit(2)."""
    if len(argv) != 2:
        print(f"usage: python -m MODULE REQUEST.json REPLY.json (a {request_type.__name__} in)", file=sys.stderr)
        raise SystemExit(2)
    path = Path(argv[0])
    return parse_message(request_type, path.read_text(encoding="utf-8"), str(path)), Path(argv[1])


def write_reply(path: Path, reply: Message) -> None:
    """Written whole or not at all: the parent never reads half a reply."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(reply.model_dump_json(), encoding="utf-8")
    os.replace(tmp, path)
