"""Run harness.labs.child in a subprocess: wall-time limit, memory cap, capped output.

The learner's code can hang, eat memory, print a gigabyte or kill itself; none of that
reaches the parent beyond a short report. The process plumbing is harness/child_process.py's.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import harness
from harness.child_process import OUTPUT_CAP_BYTES, run_child_process
from harness.labs.liveness import ItemProgress, ProgressReader
from harness.labs.messages import LabCheckReply, LabCheckRequest


@dataclass
class ChildOutcome:
    result: LabCheckReply | None  # what the child replied; None when it died first (or replied nonsense)
    returncode: int | None
    timed_out: bool
    wall_s: float
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    memory_limit: str | None  # "RLIMIT_AS" | "RLIMIT_DATA" | None
    progress: ItemProgress | None = None  # the grader's last ctx.progress()
    reply_problem: str | None = None  # why a reply the child wrote was not accepted


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
    request: LabCheckRequest,
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
    progress = ProgressReader()
    reading = False  # once the child runs, the progress pipe's ends are the reader's to close

    def started() -> None:
        nonlocal reading
        reading = True
        progress.started()

    try:
        run = run_child_process(
            "harness.labs.child",
            request.model_copy(update={"progress_fd": progress.write_fd}),
            LabCheckReply,
            timeout_s=timeout_s,
            own_group=True,  # its own process group: a timeout kills everything it started
            cwd=cwd,
            env=child_env(threads),
            preexec=_limits(memory_mb, kind or ""),
            pass_fds=(progress.write_fd,),
            output_cap=output_cap,
            on_started=started,
            on_tick=(lambda elapsed_s: on_progress(progress.latest, elapsed_s)) if on_progress else None,
            tick_s=progress_every_s,
        )
    except BaseException:
        if not reading:
            os.close(progress.read_fd)
            os.close(progress.write_fd)
        raise
    progress.join(timeout=1)
    return ChildOutcome(
        result=run.reply,
        returncode=run.returncode,
        timed_out=run.timed_out,
        wall_s=run.wall_s,
        stdout=run.stdout.text(),
        stderr=run.stderr.text(),
        stdout_bytes=run.stdout.total,
        stderr_bytes=run.stderr.total,
        memory_limit=kind,
        progress=progress.latest,
        reply_problem=run.reply_problem,
    )
