"""Run harness.labs.child in a subprocess: wall-time limit, memory cap, capped output.

The learner's code can hang, eat memory, print a gigabyte or kill itself; none of that
reaches the parent beyond a short report.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

import harness
from harness.labs.liveness import ItemProgress, ProgressReader
from harness.procs import die_with_parent_preexec, hold_ending_signals, track

OUTPUT_CAP_BYTES = 64 * 1024  # kept of each stream: the first half and the last half


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
    for chunk in iter(lambda: stream.read1(65536), b""):
        buf.feed(chunk)


@dataclass
class ChildOutcome:
    result: dict[str, Any] | None  # what the child wrote; None when it died first
    returncode: int | None
    timed_out: bool
    wall_s: float
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    memory_limit: str | None  # "RLIMIT_AS" | "RLIMIT_DATA" | None
    extra: dict[str, Any] = field(default_factory=dict)
    progress: ItemProgress | None = None  # the grader's last ctx.progress()


def _gpu_visible() -> bool:
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg"))


def memory_limit_kind(device: str) -> str:
    """RLIMIT_AS caps all address space; GPU runtimes (CUDA) reserve huge virtual ranges at init
    and fail under it, so with a GPU in play we cap writable memory (RLIMIT_DATA) instead."""
    if device == "cpu" or not _gpu_visible():
        return "RLIMIT_AS"
    return "RLIMIT_DATA"


def _limits(memory_mb: int | None, kind: str):
    def apply() -> None:
        if memory_mb:
            limit = int(memory_mb) * 1024 * 1024
            res = resource.RLIMIT_AS if kind == "RLIMIT_AS" else resource.RLIMIT_DATA
            resource.setrlimit(res, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file in the workspace

    return apply


def child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(harness.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONFAULTHANDLER", "1")  # a native crash still prints where
    if threads:
        # numpy/BLAS/FAISS thread pools follow the same budget as the model.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(threads))
    return env


def run_child(
    request: dict[str, Any],
    *,
    cwd: Path,
    timeout_s: float,
    memory_mb: int | None,
    device: str = "auto",
    threads: int | None = None,
    output_cap: int = OUTPUT_CAP_BYTES,
    on_progress: Callable[[ItemProgress | None, float], None] | None = None,
    progress_every_s: float = 10.0,
) -> ChildOutcome:
    """on_progress(last ctx.progress or None, elapsed s) is called every progress_every_s while it runs."""
    kind = memory_limit_kind(device) if memory_mb else None
    with tempfile.TemporaryDirectory(prefix="harness-check-") as tmp:
        req_path = Path(tmp) / "request.json"
        result_path = Path(tmp) / "result.json"
        progress = ProgressReader()
        req_path.write_text(json.dumps({**request, "result": str(result_path), "progress_fd": progress.write_fd}),
                            encoding="utf-8")
        out_buf, err_buf = CappedBuffer(output_cap), CappedBuffer(output_cap)
        t0 = time.perf_counter()
        proc: subprocess.Popen | None = None
        reading = False  # the progress pipe's ends are the reader's to close
        readers: list[threading.Thread] = []
        timed_out = False
        # held until the child is tracked: a signal right after Popen must not leave it running
        release = hold_ending_signals()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "harness.labs.child", str(req_path)],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env(threads),
                pass_fds=(progress.write_fd,),
                # SIGKILLed with this process, whatever ends it (docs/architecture.md, "Ending")
                preexec_fn=die_with_parent_preexec(then=_limits(memory_mb, kind or "")),
                start_new_session=True,  # its own process group: a timeout kills everything it started
            )
            with track(proc, own_group=True):  # an ending signal kills its group first
                release()  # a signal held since before the Popen is handled here, the child tracked
                reading = True
                progress.started()
                readers = [
                    threading.Thread(target=_drain, args=(proc.stdout, out_buf), daemon=True),
                    threading.Thread(target=_drain, args=(proc.stderr, err_buf), daemon=True),
                ]
                for r in readers:
                    r.start()
                timed_out = _wait(proc, t0, timeout_s, progress, on_progress, progress_every_s)
        except BaseException:  # Ctrl-C or SIGTERM in the parent: do not leave the child running
            if proc is not None:
                _kill_group(proc)
            if not reading:
                os.close(progress.read_fd)
                os.close(progress.write_fd)
            release()  # last: a held signal raises here, the child already dead
            raise
        finally:
            wall = time.perf_counter() - t0
        _kill_group(proc)  # anything the learner's code left running in the background
        for r in readers:
            r.join(timeout=5)
        progress.join(timeout=1)
        result = None
        if result_path.is_file():
            try:
                result = json.loads(result_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                result = None
        return ChildOutcome(
            result=result,
            returncode=proc.returncode,
            timed_out=timed_out,
            wall_s=wall,
            stdout=out_buf.text(),
            stderr=err_buf.text(),
            stdout_bytes=out_buf.total,
            stderr_bytes=err_buf.total,
            memory_limit=kind,
            progress=progress.latest,
        )


def _wait(proc: subprocess.Popen, t0: float, timeout_s: float, progress: ProgressReader,
          on_progress: Callable[[ItemProgress | None, float], None] | None, every_s: float) -> bool:
    """Wait for the child; True when it ran past timeout_s (its group is killed)."""
    deadline = t0 + timeout_s
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            _kill_group(proc)
            return True
        try:
            proc.wait(timeout=min(left, every_s) if on_progress else left)
            return False
        except subprocess.TimeoutExpired:
            if on_progress is not None and time.perf_counter() < deadline:
                try:
                    on_progress(progress.latest, time.perf_counter() - t0)
                except Exception:  # a progress line (a closed stderr: OSError) never fails the check
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
