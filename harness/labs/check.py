"""run_check: grade one solution of one lab in a sandboxed child process.

Importable without llama_cpp: the model is only loaded inside the child.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from harness import __version__
from harness.child_process import signal_death
from harness.errors import LabError
from harness.labs.liveness import ItemProgress
from harness.labs.messages import LabCheckRequest, RoleModels
from harness.labs.report import CheckError, CheckReport, LearnerOutput, criteria_rows, next_steps
from harness.labs.runner import ChildOutcome, run_child
from harness.labs.spec import LabSpec, get_lab
from harness.labs.workspace import default_solution_path

MEMORY_HINTS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "failed to allocate", "out of memory")


LAB_LIMIT = "the lab's time limit"


def run_check(
    lab_id: str,
    solution: Path | None = None,
    *,
    reference: bool = False,
    model: str | None = None,
    backend: str = "llama-cpp",
    embed_backend: str | None = None,
    embedding_model: str | None = None,
    device: str = "auto",
    dataset: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    timeout_s: float | None = None,
    timeout_source: str = "the --timeout given",
    threads: int | None = None,
    labs_root: Path | None = None,
    workspace_dir: Path | None = None,
    on_progress: Callable[[ItemProgress | None, float, float], None] | None = None,
    progress_every_s: float = 10.0,
) -> CheckReport:
    """Grade `solution` (default: the workspace file; reference=True: the lab's solution.py).
    timeout_source names who set timeout_s in a timeout's message (the lab's limit when it is None).
    on_progress(last ctx.progress or None, elapsed s, the time limit in s) is called every
    progress_every_s while it runs. embed_backend: the embedding model's backend (default:
    harness.backends.registry.embed_backend_for). embedding_model: another file or lock name for the lab's
    embedding model (the bench's --embed-quant passes a quantised copy); default lab.toml's."""
    from harness.backends.registry import embed_backend_for  # numpy: not on the CLI's import path

    spec = get_lab(lab_id, labs_root)
    if reference and solution is not None:
        raise LabError("give either a solution file or --reference, not both", "drop one of them")
    path = (
        spec.solution_path if reference else Path(solution) if solution else default_solution_path(spec, workspace_dir)
    )
    if not path.is_file():
        hint = f"run `harness start {lab_id}` to create it" if solution is None and not reference else "check the path"
        raise LabError(f"no solution file at {path}", hint)
    if dataset is not None and not Path(dataset).is_file():
        raise LabError(f"no dataset file at {dataset}", "give --dataset the path of an existing file")
    if limit is not None and limit < 1:
        raise LabError(f"--limit must be at least 1 (got {limit})", "leave it out to use the lab's default")
    chat = model or spec.models.chat
    request = LabCheckRequest(
        lab_id=spec.id,
        lab_dir=spec.lab_dir.resolve(),
        solution=path.resolve(),
        entry=spec.entry,
        models=RoleModels(
            chat=chat, embedding=(embedding_model or spec.models.embedding) if spec.models.embedding else None
        ),
        backend=backend,
        embed_backend=embed_backend_for(backend, embed_backend),
        device=device,
        threads=threads,
        dataset=Path(dataset).resolve() if dataset else None,
        limit=limit,
        seed=seed,
        grader_table=spec.grader,
    )
    timeout = float(timeout_s) if timeout_s else spec.timeout_s
    source = timeout_source if timeout_s else LAB_LIMIT
    outcome = run_child(
        request,
        cwd=path.resolve().parent,
        timeout_s=timeout,
        memory_mb=spec.memory_mb,
        device=device,
        threads=threads,
        on_progress=(lambda latest, elapsed_s: on_progress(latest, elapsed_s, timeout)) if on_progress else None,
        progress_every_s=progress_every_s,
    )
    return build_report(
        spec,
        outcome,
        timeout=timeout,
        timeout_source=source,
        solution_label="reference" if reference else _label(path),
        model=chat,
        backend=backend,
        device=device,
        seed=seed,
        limit=limit,
        dataset=dataset,
    )


def _label(path: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:
        return path.name
    # relpath can climb out of cwd ("../../x.py"): still no home path in it.


def _failure(spec: LabSpec, o: ChildOutcome, timeout: float, timeout_source: str) -> CheckError:
    """Why the child produced no result."""
    if o.timed_out:
        # said by who set the limit, not guessed from its value: a bench cell's limit may equal the lab's
        basis = f"; {spec.timeout_basis}" if spec.timeout_basis and timeout_source == LAB_LIMIT else ""
        where = f", after {o.progress}" if o.progress else ""
        return CheckError(
            kind="timeout",
            message=f"stopped after {timeout:g} s ({timeout_source}{basis}){where}",
            hint="look for an endless loop or a call that waits forever (a model call with a large "
            "max_tokens, a loop that never ends); on a slow machine give it more time with "
            "--timeout SECONDS.",
        )
    if any(h in o.stderr for h in MEMORY_HINTS):
        return CheckError(
            kind="memory",
            message=f"ran out of memory (the cap is {spec.memory_mb} MB)",
            traceback=o.stderr[-4000:] or None,
        )
    death = signal_death(o.returncode, o.stderr, what="the lab's process")
    if death is not None:
        message, hint = death
        return CheckError(kind="crash", message=message, hint=hint, traceback=o.stderr[-4000:] or None)
    if o.reply_problem:
        return CheckError(kind="internal", message=o.reply_problem, traceback=o.stderr[-4000:] or None)
    return CheckError(
        kind="crash",
        message=f"the process exited with code {o.returncode} before reporting a result",
        traceback=o.stderr[-4000:] or None,
    )


def build_report(
    spec: LabSpec,
    o: ChildOutcome,
    *,
    timeout: float,
    solution_label: str,
    timeout_source: str = LAB_LIMIT,
    model: str | None,
    backend: str,
    device: str,
    seed: int,
    limit: int | None,
    dataset: Path | None,
) -> CheckReport:
    values: dict = {}
    metrics: dict = {}
    timings: dict = {}
    notes: list[str] = []
    samples: list = []
    backends: dict = {}
    error: CheckError | None = None
    if o.result is None:
        error = _failure(spec, o, timeout, timeout_source)
    elif o.result.error is not None:
        error = CheckError(**o.result.error.model_dump())
        if error.kind == "memory":
            error.message = f"{error.message} (the cap is {spec.memory_mb} MB)"
    elif o.result.measurement is not None:
        m = o.result.measurement
        values, metrics, timings = dict(m.values), dict(m.metrics), dict(m.timings)
        notes, samples = list(m.notes), list(m.samples)
        backends = dict(o.result.backends)
        missing = [c.name for c in spec.criteria if c.name not in values]
        if missing:
            notes.append(f"the grader did not measure: {', '.join(missing)}")
    rows = criteria_rows(spec, values)
    passed = error is None and all(r.passed for r in rows)
    if o.stdout_bytes > len(o.stdout.encode()) or o.stderr_bytes > len(o.stderr.encode()):
        notes.append("your code printed a lot: only the beginning and the end of its output are kept")
    return CheckReport(
        lab=spec.id,
        lab_version=spec.version,
        title=spec.title,
        passed=passed,
        score=round(sum(r.passed for r in rows) / len(rows), 4) if error is None else 0.0,
        criteria=rows,
        metrics=metrics,
        timings=timings,
        notes=notes,
        samples=samples,
        error=error,
        next_steps=next_steps(rows, error),
        wall_s=round(o.wall_s, 3),
        solution=solution_label,
        model=model,
        embedding_model=spec.models.embedding,
        backend=backend if ":" not in backend else "custom",
        device=device,
        backends=backends,
        seed=seed,
        limit=limit,
        dataset=Path(dataset).name if dataset else None,
        calibrated_on=spec.calibrated_on,
        memory_limit=o.memory_limit,
        output=LearnerOutput(
            stdout=o.stdout, stderr=o.stderr, stdout_bytes=o.stdout_bytes, stderr_bytes=o.stderr_bytes
        ),
        harness_version=__version__,
    )
