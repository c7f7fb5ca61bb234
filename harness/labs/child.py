"""The process that runs a learner's code: `python -m harness.labs.child REQUEST.json REPLY.json`.

The parent (harness.labs.runner) starts it with a time limit and a memory cap. It reads a
LabCheckRequest, imports the lab's grader, validates lab.toml's [grader] table against the
grader's Settings, builds a LabContext, imports the learner's file, calls grade(), and writes a
LabCheckReply (the measurement, or the error) to REPLY.json (harness/labs/messages.py).
stdout/stderr belong to the learner's prints; the harness never writes there.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.backends.catalog import import_file
from harness.labs.messages import ChildError, LabCheckReply, LabCheckRequest

# Freed on MemoryError so that reporting it has room to allocate.
_reserve: bytearray | None = bytearray(1 << 20)


def _display_path(path: str, cwd: Path) -> str:
    """Tracebacks are shown and saved: keep them free of home paths."""
    try:
        return str(Path(path).resolve().relative_to(cwd))
    except (ValueError, OSError):
        home = str(Path.home())
        return "~" + path[len(home) :] if home not in ("", "/") and path.startswith(home) else path


def learner_traceback(exc: BaseException, solution: Path, cwd: Path) -> tuple[str, str | None]:
    """The traceback from the first frame in the learner's file onwards, and the name of the
    learner's innermost function. Falls back to the whole traceback when no frame is theirs."""
    frames = traceback.extract_tb(exc.__traceback__)
    sol = str(solution.resolve())
    idx = next((i for i, f in enumerate(frames) if _same_file(f.filename, sol)), None)
    func = None
    if idx is not None:
        mine = [f for f in frames if _same_file(f.filename, sol)]
        func = mine[-1].name if mine else None
        frames = traceback.StackSummary.from_list(frames[idx:])
    else:
        frames = traceback.StackSummary.from_list([f for f in frames if not _is_harness_frame(f.filename)])
    for f in frames:
        f.filename = _display_path(f.filename, cwd)
    lines = ["Traceback (most recent call last):\n", *frames.format(), *traceback.format_exception_only(type(exc), exc)]
    return "".join(lines), func


def _same_file(a: str, b: str) -> bool:
    try:
        return str(Path(a).resolve()) == b
    except OSError:
        return False


def _is_harness_frame(filename: str) -> bool:
    return filename == __file__ or filename.endswith(os.path.join("harness", "labs", "child.py"))


def open_backend_spec(backend: str, model: str, role: str, device: str, threads: int | None):
    """A backend by its record's name (harness/backends/catalog.py), or "module:callable" /
    "path.py:callable" for a backend outside the harness (the engine's tests use a fake one)."""
    from harness.backends.registry import open_backend

    return open_backend(backend, model, role=role, device=device, threads=threads)


def build_context(req: LabCheckRequest, settings=None):
    """The grader's LabContext; `settings`: the [grader] table validated against its Settings."""
    from harness.labs.api import LabContext
    from harness.labs.liveness import ProgressWriter

    backend, device, threads = req.backend, req.device, req.threads
    embed_backend = req.embed_backend or backend
    chat, emb = req.models.chat, req.models.embedding
    return LabContext(
        lab_id=req.lab_id,
        lab_dir=req.lab_dir,
        data_dir=req.lab_dir / "data",
        dataset_path=req.dataset,
        limit=req.limit,
        seed=req.seed,
        config=dict(req.grader_table),
        _llm_factory=(lambda: open_backend_spec(backend, chat, "chat", device, threads)) if chat else None,
        _embedder_factory=(lambda: open_backend_spec(embed_backend, emb, "embedding", device, threads))
        if emb
        else None,
        _embedder_opener=(lambda path: open_backend_spec(embed_backend, str(path), "embedding", device, threads))
        if emb
        else None,
        _progress_out=ProgressWriter(req.progress_fd) if req.progress_fd is not None else None,
        _settings=settings,
    )


def _backend_summary(obj: Any) -> dict[str, Any] | None:
    """Device facts worth keeping in a report; nothing path-like."""
    try:
        info = obj.info()
    except Exception:
        return None
    keep = ("backend", "model", "version", "device", "n_gpu_layers", "threads", "n_ctx", "n_batch")
    summary = {k: getattr(info, k, None) for k in keep}
    # settings that change the answers or the speed (bench records them per cell)
    summary["extra"] = {
        k: v
        for k, v in (info.extra or {}).items()
        if k in ("flash_attn", "n_ubatch", "prefix_cache", "prompt_cache", "busy_s")
    }
    return summary


def run(req: LabCheckRequest, started_s: float | None = None) -> LabCheckReply:
    """Grade; started_s: how long this process took to start (timings' startup_s)."""
    from harness.errors import HarnessError
    from harness.labs.api import LearnerError, Measurement
    from harness.labs.grader_settings import settings_class, validate_settings

    global _reserve
    solution = req.solution.resolve()
    cwd = Path.cwd().resolve()
    ctx = None
    try:
        sys.path.insert(0, str(solution.parent))
        sys.path.insert(0, str(req.lab_dir.resolve()))
        t_import = time.perf_counter()
        grader = import_file(f"_lab_grader_{req.lab_id.replace('-', '_')}", req.lab_dir / "grader.py")
        # a typo in lab.toml's [grader] stops here, before any model loads
        settings = validate_settings(settings_class(grader), req.grader_table, req.lab_dir / "lab.toml")
        ctx = build_context(req, settings)
        try:
            module = import_file(solution.stem, solution)
        except BaseException as e:  # a syntax error or a crash at import is the learner's
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise _LearnerImportError(e) from e
        import_s = time.perf_counter() - t_import
        missing = [name for name in req.entry if not callable(getattr(module, name, None))]
        if missing:
            return _error(
                "missing_function",
                f"{_display_path(str(solution), cwd)} does not define {', '.join(missing)}",
                hint=f"the lab calls these functions: {', '.join(req.entry)}",
            )
        t0 = time.perf_counter()
        m = grader.grade(module, ctx)
        grade_s = time.perf_counter() - t0
        if not isinstance(m, Measurement):
            return _error("internal", f"grader.grade returned {type(m).__name__}, not a Measurement")
        out = asdict(m)
        out["values"] = {k: (None if v is None else float(v)) for k, v in m.values.items()}
        timings = dict(out["timings"])
        for role, secs in ctx.load_s.items():
            timings.setdefault("load_s" if role == "llm" else f"load_{role}_s", round(secs, 4))
        timings.setdefault("grade_s", round(grade_s, 4))
        # where a check's time went (docs/lab-format.md, "Timings"): the process and imports before
        # grading, then within grade_s the models' own work
        if started_s is not None:
            timings.setdefault("startup_s", round(started_s, 4))
        timings.setdefault("import_s", round(import_s, 4))
        out["timings"] = timings
        backends = {
            r: _backend_summary(o) for r, o in (("chat", ctx._llm), ("embedding", ctx._embedder)) if o is not None
        }
        extra = {role: (b or {}).get("extra") or {} for role, b in backends.items()}
        for role, key in (("chat", "chat_model_s"), ("embedding", "embedding_model_s")):
            busy = extra.get(role, {}).get("busy_s")
            if busy is not None:
                timings.setdefault(key, busy)
        # TTFT of prompts evaluated cold and of those that reused a cached prefix, where both happened
        cache = extra.get("chat", {}).get("prompt_cache") or {}
        ttfts = ("ttft_cold_p50_s", "ttft_cached_p50_s")
        if all(cache.get(k) is not None for k in ttfts):
            for k in ttfts:
                timings.setdefault(k, round(cache[k], 4))
        # numpy values become numbers and paths their names, as the reply's JSON holds them
        return LabCheckReply.model_validate(
            json.loads(json.dumps({"measurement": out, "backends": backends}, default=_jsonable))
        )
    except MemoryError:
        _reserve = None
        return _error("memory", "the learner's process ran out of memory")
    except _LearnerImportError as wrapped:
        original = wrapped.original
        tb, _ = learner_traceback(original, solution, cwd)
        if isinstance(original, SyntaxError):
            tb = "".join(traceback.format_exception_only(type(original), original)).replace(
                str(solution), _display_path(str(solution), cwd)
            )
        return _error(
            "learner_exception",
            f"importing your file failed: {type(original).__name__}: {original}",
            traceback=tb,
            stage="import",
        )
    except SystemExit as e:
        tb, func = learner_traceback(e, solution, cwd)
        return _error("learner_exception", f"your code called sys.exit({e.code!r})", traceback=tb)
    except LearnerError as e:
        return _error("learner_error", str(e))
    except HarnessError as e:
        tb, func = learner_traceback(e, solution, cwd)
        if func is not None:  # e.g. the learner's call asked the backend for something it cannot do
            return _error("learner_exception", f"{type(e).__name__} in {func}: {e.message}", traceback=tb, hint=e.hint)
        return _error("harness", e.message, hint=e.hint)
    except NotImplementedError as e:
        tb, func = learner_traceback(e, solution, cwd)
        name = func or (str(e) or "a TODO")
        return _error(
            "not_implemented", f"not implemented yet: {name}", traceback=tb, hint=f"fill in the TODO in {name}"
        )
    except Exception as e:
        tb, func = learner_traceback(e, solution, cwd)
        if func is None:  # no frame in the learner's file: a bug in the grader or the harness
            return _error("internal", f"{type(e).__name__}: {e}", traceback=tb)
        return _error("learner_exception", f"{type(e).__name__} in {func}: {e}", traceback=tb)
    finally:
        for obj in (getattr(ctx, "_llm", None), getattr(ctx, "_embedder", None)):
            try:
                if obj is not None:
                    obj.close()
            except Exception:
                pass


class _LearnerImportError(Exception):
    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


def _error(
    kind: str, message: str, *, traceback: str | None = None, hint: str | None = None, stage: str | None = None
) -> LabCheckReply:
    return LabCheckReply(error=ChildError(kind=kind, message=message, traceback=traceback, hint=hint, stage=stage))


def main(argv: list[str]) -> int:
    from harness.child_process import MessageError, read_request, write_reply

    started_s = _seconds_since_start()
    try:
        req, reply_path = read_request(argv, LabCheckRequest)
    except MessageError as e:
        print(e, file=sys.stderr)
        return 2
    write_reply(reply_path, run(req, started_s))
    return 0


def _seconds_since_start() -> float | None:
    """How long this process took to get here: the interpreter, site-packages and harness imports."""
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:
        return None


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.name
    return str(obj)


if __name__ == "__main__":
    # Learner code may call sys.exit(); the result is written before we exit.
    sys.exit(main(sys.argv[1:]))
