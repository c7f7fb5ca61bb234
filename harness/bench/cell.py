"""One matrix cell, run in a process of its own (`python -m harness.bench.cell REQUEST.json REPLY.json`).

A process per cell gives each cell its own peak RSS (getrusage of this process and of the lab's
grader child), and a native abort in llama.cpp costs one cell, not the whole matrix.
It reads a CellRequest and writes a CellReply (harness/bench/messages.py, harness/child_process.py).
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.bench.messages import CellReply, CellRequest
from harness.bench.schema import Criterion, Fingerprint, ItemOutcomes, LabFigures
from harness.bench.stats import single, summarize
from harness.grading.outcomes import PER_ITEM_KEY
from harness.hw.gpu import VramSampler  # the cell's peak VRAM, with the lab's child


class CellError(Exception):
    """A cell that could not produce figures; the message is recorded as the cell's error."""


_TOKEN_KEYS = ("tokens_in", "tokens_out")
# The cell's own figure: the wall time of one graded run, machine-dependent
CHECK_WALL_KEY, CHECK_WALL_KIND = "check_wall_s", "latency"
# A CheckReport's timings (harness/labs/api.py Measurement.timings, harness/labs/child.py) are times
# and speeds of this machine: latency, unless the lab declares otherwise
TIMINGS_KIND = "latency"


def _own_peak_rss_bytes() -> int:
    """This process's own peak RSS. On Linux VmHWM, not ru_maxrss: a child started with vfork+exec
    (Python's subprocess does) inherits its parent's ru_maxrss at exec, so every cell would report at
    least the bench process's peak (its 512 MiB bandwidth arrays)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def peak_rss_bytes() -> int:
    """Peak resident memory of this cell: this process, or the lab's grader child when larger
    (the child was started from this small process, so its ru_maxrss is its own)."""
    scale = 1 if sys.platform == "darwin" else 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return max(_own_peak_rss_bytes(), kids)


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def item_outcomes(report: dict[str, Any], frontier: str | None) -> tuple[ItemOutcomes | None, str | None]:
    """The per-item outcomes of the lab's frontier criterion, or None and why not."""
    if frontier is None:
        return (
            None,
            "the lab declares no frontier criterion (lab.toml: frontier = true), so it has no per-item outcomes",
        )
    per = (report.get("metrics") or {}).get(PER_ITEM_KEY) or {}
    xs = (per.get("outcomes") or {}).get(frontier)
    if not isinstance(xs, list) or not xs or not per.get("items_sha256"):
        return None, f"the grader reported no per-item outcomes of {frontier}"
    value = next((c.get("value") for c in report.get("criteria", []) if c["name"] == frontier), None)
    if value is None or abs(sum(xs) / len(xs) - value) > 1e-9:  # a grader bug: never test on outcomes that disagree
        return (
            None,
            f"the per-item outcomes of {frontier} (mean {sum(xs) / len(xs):.4g}) disagree with its value {value}",
        )
    return ItemOutcomes(figure=frontier, items_sha256=per["items_sha256"], correct=[int(x) for x in xs]), None


def lab_figures(
    reports: list[dict[str, Any]], kinds: Mapping[str, str] | None = None, frontier: str | None = None
) -> LabFigures:
    """Fold the CheckReports of the repetitions into one LabFigures, each value with its spread.
    kinds: the lab's declared kinds (LabSpec.figure_kinds(): its criteria and [metric_kinds]); a
    criterion or metric without one goes to `extra`, kept but never compared, and timings are
    TIMINGS_KIND unless declared; frontier: the lab's frontier criterion, whose per-item outcomes are
    kept (from the first repetition: at temperature 0 they repeat)."""
    kinds = kinds or {}
    first = reports[0]
    series: dict[str, dict[str, list[float]]] = {"accuracy": {}, "latency": {}, "retrieval": {}}
    extra: dict[str, Any] = {}
    tokens: dict[str, list[float]] = {k: [] for k in _TOKEN_KEYS}
    for rep in reports:
        values = {c["name"]: c.get("value") for c in rep.get("criteria", [])}
        metrics = {k: v for k, v in (rep.get("metrics") or {}).items() if k != PER_ITEM_KEY}
        values.update({k: v for k, v in _flatten(metrics).items() if k not in values})
        for k, v in values.items():
            if k in kinds and _numeric(v):
                series[kinds[k]].setdefault(k, []).append(float(v))
            else:
                extra.setdefault(k, v)  # text, counts and other context: kept, not compared
        for k, v in _flatten(rep.get("timings") or {}).items():
            if k in _TOKEN_KEYS and _numeric(v):
                tokens[k].append(float(v))
            elif _numeric(v):
                series[kinds.get(k, TIMINGS_KIND)].setdefault(k, []).append(float(v))
        series[CHECK_WALL_KIND].setdefault(CHECK_WALL_KEY, []).append(float(rep.get("wall_s") or 0.0))
    outcomes, outcomes_note = item_outcomes(first, frontier)
    unit = lambda k: "tok/s" if "tok_s" in k else ("s" if k.endswith("_s") else None)  # noqa: E731
    mean_int = lambda xs: int(round(sum(xs) / len(xs))) if xs else None  # noqa: E731
    return LabFigures(
        lab_version=first.get("lab_version"),
        passed=all(r.get("passed") for r in reports),
        criteria=[
            Criterion(
                name=c["name"],
                value=c.get("value"),
                op=c.get("op"),
                threshold=c.get("threshold"),
                passed=c.get("passed"),
            )
            for c in first.get("criteria", [])
        ],
        accuracy={k: summarize(v) for k, v in series["accuracy"].items()},
        latency={k: summarize(v, unit(k)) for k, v in series["latency"].items()},
        retrieval={
            k: summarize(v, "1/s" if "per_s" in k or k == "qps" else None) for k, v in series["retrieval"].items()
        },
        tokens_in=mean_int(tokens["tokens_in"]),
        tokens_out=mean_int(tokens["tokens_out"]),
        extra={k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool)) or v is None},
        outcomes=outcomes,
        outcomes_note=outcomes_note,
    )


def _run_throughput(req: CellRequest) -> dict[str, Any]:
    from harness.backends.registry import open_backend
    from harness.bench.energy import EnergyMeter
    from harness.bench.throughput import needed_ctx, run_throughput

    pairs = tuple(req.pairs)
    depths, depth_gen = tuple(req.depths), int(req.depth_gen or 32)
    t0 = time.perf_counter()
    # llama-bench's setting for its pp/tg figures: cold prompts, flash attention on (llama.cpp's
    # "auto"), unless HARNESS_FLASH_ATTN=0; lab cells use the chat defaults (harness/backends/llama_cpp.py)
    opts = {}
    if req.backend == "llama-cpp":
        from harness.backends.llama_cpp import flash_attn_setting

        opts = {"flash_attn": flash_attn_setting(default=True), "prefix_cache": False}
    backend = open_backend(
        req.backend,
        req.model,
        role="chat",
        device=req.device,
        threads=req.threads,
        n_ctx=needed_ctx(req.pp, req.tg, pairs, depths, depth_gen),
        **opts,  # type: ignore[arg-type]
    )
    load_s = time.perf_counter() - t0
    try:
        result = run_throughput(
            backend,
            pp=req.pp,
            tg=req.tg,
            pairs=pairs,
            repetitions=req.repetitions,
            warmup=req.warmup,
            seed=req.seed,
            depths=depths,
            depth_gen=depth_gen,
            trace=req.trace,
            energy=EnergyMeter.open(want_gpu=backend.info().device == "gpu"),
        )
        result.load_s = single(load_s, "s")
        info = backend.info()
    finally:
        backend.close()
    return {"throughput": result.model_dump(mode="json"), "info": info.to_dict(), "load_s": load_s}


def _run_lab(req: CellRequest) -> dict[str, Any]:
    from harness.labs.check import run_check
    from harness.labs.spec import get_lab

    spec = get_lab(req.lab)
    frontier = spec.frontier_criterion
    reports = []
    for _ in range(req.lab_repetitions):
        report = run_check(
            req.lab,
            reference=True,
            model=req.model,
            backend=req.backend,
            embed_backend=req.embed_backend,
            embedding_model=req.embed_model,
            device=req.device,
            threads=req.threads,
            limit=req.limit,
            seed=req.seed,
            timeout_s=req.check_timeout_s,
            timeout_source="the bench's time limit per cell",
        )
        data = report.model_dump(mode="json")
        if data.get("error"):
            err = data["error"]
            raise CellError(f"the lab's reference run failed ({err.get('kind')}): {err.get('message')}")
        reports.append(data)
    # What each loaded model ran on ({"chat": {...}, "embedding": {...}}); a lab that loads no chat
    # model did not use --model, and its cell says so (uses_chat_model = False).
    roles = {k: v for k, v in (reports[0].get("backends") or {}).items() if v}
    info = dict(roles.get("chat") or next(iter(roles.values()), {}) or {})
    info["roles"] = roles
    return {
        "lab": lab_figures(reports, spec.figure_kinds(), frontier.name if frontier else None).model_dump(mode="json"),
        "info": info,
        "device": info.get("device"),
        "uses_chat_model": "chat" in roles,
    }


def _fingerprint(req: CellRequest) -> dict[str, Any]:
    """The chat model's greedy-output fingerprint with the labs' settings (the throughput cell's own
    backend runs as llama-bench does, flash attention on: not how the labs answer)."""
    from harness.bench.fingerprint import greedy_fingerprint
    from harness.labs.child import open_backend_spec  # as a lab opens it: same defaults, custom backends too

    backend = open_backend_spec(req.backend, req.model, "chat", req.device, req.threads)
    try:
        fp = greedy_fingerprint(backend)
        info = backend.info()
    finally:
        backend.close()
    return fp | {
        "threads": info.threads,
        "flash_attn": info.extra.get("flash_attn"),
        "device_used": info.device,
        "n_gpu_layers": info.n_gpu_layers,
    }


def main(argv: list[str]) -> int:
    from harness.child_process import MessageError, read_request, write_reply
    from harness.procs import Ended, die_with_parent, ending_signals

    try:
        req, reply_path = read_request(argv, CellRequest)
    except MessageError as e:
        print(e, file=sys.stderr)
        return 2
    die_with_parent(req.parent_pid)  # the bench process was killed outright: end too
    out: dict[str, Any]
    t0 = time.perf_counter()
    with ending_signals(), VramSampler() as vram:  # SIGTERM from the bench: the lab's child is killed first
        try:
            out = _run_throughput(req) if req.lab == "throughput" else _run_lab(req)
            out["status"] = "ok"
            if req.fingerprint:
                try:
                    out["fingerprint"] = Fingerprint.model_validate(_fingerprint(req)).model_dump(mode="json")
                except Exception as e:  # the cell's figures stand; the next cell of this model tries again
                    out["fingerprint_error"] = f"{type(e).__name__}: {e}"
        except Ended as e:  # stopped: no result to write
            return e.exit_code
        except KeyboardInterrupt:
            return 130
        except Exception as e:  # recorded in the result file as this cell's error; the matrix goes on
            from harness.errors import HarnessError

            text = str(e) if isinstance(e, (HarnessError, CellError)) else f"{type(e).__name__}: {e}"
            out = {"status": "error", "error": text}
    out["wall_s"] = time.perf_counter() - t0
    out["peak_rss_bytes"] = peak_rss_bytes()
    out["peak_vram_bytes"] = vram.peak  # None off GPU
    # what is not JSON becomes its str, as it always did
    write_reply(reply_path, CellReply.model_validate(json.loads(json.dumps(out, default=str))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
