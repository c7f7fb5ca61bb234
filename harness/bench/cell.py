"""One matrix cell, run in a process of its own (`python -m harness.bench.cell REQUEST.json`).

A process per cell gives each cell its own peak RSS (getrusage of this process and of the lab's
grader child), and a native abort in llama.cpp costs one cell, not the whole matrix.
The request names an output path; the parent reads what was written there.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.bench.schema import Criterion, ItemOutcomes, LabFigures
from harness.bench.stats import single, summarize
from harness.grading.outcomes import PER_ITEM_KEY

class CellError(Exception):
    """A cell that could not produce figures; the message is recorded as the cell's error."""


_SCORE_WORDS = ("acc", "f1", "exact", "match", "score", "precision", "rate", "correct", "auc")
_RETRIEVAL_WORDS = ("recall", "mrr", "ndcg", "hit@", "queries_per_s", "qps")
_TOKEN_KEYS = ("tokens_in", "tokens_out")


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


class VramSampler:
    """Peak GPU memory of this process and its descendants (the lab's grader), polled with nvidia-smi
    every half second. None when no NVIDIA GPU or nvidia-smi is present."""

    def __init__(self, interval_s: float = 0.5):
        import shutil

        self.enabled = shutil.which("nvidia-smi") is not None
        self.interval_s = interval_s
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "VramSampler":
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join(timeout=15)

    def _pids(self) -> set[str]:
        import psutil

        me = psutil.Process()
        return {str(me.pid)} | {str(c.pid) for c in me.children(recursive=True)}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, timeout=10,
                ).stdout
                pids = self._pids()
                used = sum(
                    int(p[1]) * 1024 * 1024
                    for p in (line.split(",") for line in out.splitlines())
                    if len(p) == 2 and p[0].strip() in pids and p[1].strip().isdigit()
                )
                if used:
                    self.peak = max(self.peak or 0, used)
            except Exception:
                pass
            self._stop.wait(self.interval_s)


def _is_timing(key: str) -> bool:
    """Figures that depend on the machine, not on the answers: never compared as accuracy."""
    k = key.lower()
    return k.endswith(("_s", "_ms")) or any(w in k for w in ("latency", "speedup", "tok_s", "time", "error"))


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
        return None, "the lab declares no frontier criterion (lab.toml: frontier = true), so it has no per-item outcomes"
    per = (report.get("metrics") or {}).get(PER_ITEM_KEY) or {}
    xs = (per.get("outcomes") or {}).get(frontier)
    if not isinstance(xs, list) or not xs or not per.get("items_sha256"):
        return None, f"the grader reported no per-item outcomes of {frontier}"
    value = next((c.get("value") for c in report.get("criteria", []) if c["name"] == frontier), None)
    if value is None or abs(sum(xs) / len(xs) - value) > 1e-9:  # a grader bug: never test on outcomes that disagree
        return None, f"the per-item outcomes of {frontier} (mean {sum(xs) / len(xs):.4g}) disagree with its value {value}"
    return ItemOutcomes(figure=frontier, items_sha256=per["items_sha256"], correct=[int(x) for x in xs]), None


def lab_figures(reports: list[dict[str, Any]], kinds: dict[str, str] | None = None,
                frontier: str | None = None) -> LabFigures:
    """Fold the CheckReports of the repetitions into one LabFigures, each value with its spread.
    kinds: the criteria's declared kinds (lab.toml), which win over the guess from the name;
    frontier: the lab's frontier criterion, whose per-item outcomes are kept (from the first repetition:
    at temperature 0 they repeat)."""
    kinds = kinds or {}
    first = reports[0]
    series: dict[str, dict[str, list[float]]] = {"accuracy": {}, "latency": {}, "retrieval": {}}
    extra: dict[str, Any] = {}
    tokens: dict[str, list[float]] = {k: [] for k in _TOKEN_KEYS}
    for rep in reports:
        values = {c["name"]: c.get("value") for c in rep.get("criteria", [])}
        criteria = set(values)
        metrics = {k: v for k, v in (rep.get("metrics") or {}).items() if k != PER_ITEM_KEY}
        values.update({k: v for k, v in _flatten(metrics).items() if k not in values})
        for k, v in values.items():
            if k in kinds and _numeric(v):
                series[kinds[k]].setdefault(k, []).append(float(v))
                continue
            scored = k in criteria or any(w in k.lower() for w in _SCORE_WORDS + _RETRIEVAL_WORDS)
            if not _numeric(v) or not scored:
                extra.setdefault(k, v)  # text, counts and other context: kept, not graded as accuracy
                continue
            if _is_timing(k):  # e.g. a criterion "latency_p95_s" or "hnsw_speedup": machine-dependent
                series["latency"].setdefault(k, []).append(float(v))
                continue
            kind = "retrieval" if any(w in k.lower() for w in _RETRIEVAL_WORDS) else "accuracy"
            series[kind].setdefault(k, []).append(float(v))
        for k, v in _flatten(rep.get("timings") or {}).items():
            if k in _TOKEN_KEYS and _numeric(v):
                tokens[k].append(float(v))
            elif _numeric(v):
                kind = "retrieval" if any(w in k.lower() for w in _RETRIEVAL_WORDS) else "latency"
                series[kind].setdefault(k, []).append(float(v))
        series["latency"].setdefault("check_wall_s", []).append(float(rep.get("wall_s") or 0.0))
    outcomes, outcomes_note = item_outcomes(first, frontier)
    unit = lambda k: "tok/s" if "tok_s" in k else ("s" if k.endswith("_s") else None)  # noqa: E731
    mean_int = lambda xs: int(round(sum(xs) / len(xs))) if xs else None  # noqa: E731
    return LabFigures(
        lab_version=first.get("lab_version"),
        passed=all(r.get("passed") for r in reports),
        criteria=[
            Criterion(name=c["name"], value=c.get("value"), op=c.get("op"), threshold=c.get("threshold"), passed=c.get("passed"))
            for c in first.get("criteria", [])
        ],
        accuracy={k: summarize(v) for k, v in series["accuracy"].items()},
        latency={k: summarize(v, unit(k)) for k, v in series["latency"].items()},
        retrieval={k: summarize(v, "1/s" if "per_s" in k or k == "qps" else None) for k, v in series["retrieval"].items()},
        tokens_in=mean_int(tokens["tokens_in"]),
        tokens_out=mean_int(tokens["tokens_out"]),
        extra={k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool)) or v is None},
        outcomes=outcomes, outcomes_note=outcomes_note,
    )


def _run_throughput(req: dict[str, Any]) -> dict[str, Any]:
    from harness.backends.registry import open_backend
    from harness.bench.energy import EnergyMeter
    from harness.bench.throughput import needed_ctx, run_throughput

    pairs = tuple(tuple(p) for p in req["pairs"])
    depths, depth_gen = tuple(req.get("depths") or ()), int(req.get("depth_gen") or 32)
    t0 = time.perf_counter()
    # llama-bench's setting for its pp/tg figures: cold prompts, flash attention on (llama.cpp's
    # "auto"), unless HARNESS_FLASH_ATTN=0; lab cells use the chat defaults (harness/backends/llama_cpp.py)
    opts = {}
    if req["backend"] == "llama-cpp":
        from harness.backends.llama_cpp import flash_attn_setting

        opts = {"flash_attn": flash_attn_setting(default=True), "prefix_cache": False}
    backend = open_backend(
        req["backend"], req["model"], role="chat", device=req["device"], threads=req.get("threads"),
        n_ctx=needed_ctx(req["pp"], req["tg"], pairs, depths, depth_gen), **opts,  # type: ignore[arg-type]
    )
    load_s = time.perf_counter() - t0
    try:
        result = run_throughput(
            backend, pp=req["pp"], tg=req["tg"], pairs=pairs,  # type: ignore[arg-type]
            repetitions=req["repetitions"], warmup=req["warmup"], seed=req["seed"],
            depths=depths, depth_gen=depth_gen, trace=bool(req.get("trace")),
            energy=EnergyMeter.open(want_gpu=backend.info().device == "gpu"),
        )
        result.load_s = single(load_s, "s")
        info = backend.info()
    finally:
        backend.close()
    return {"throughput": result.model_dump(mode="json"), "info": info.to_dict(), "load_s": load_s}


def _run_lab(req: dict[str, Any]) -> dict[str, Any]:
    from harness.labs.check import run_check
    from harness.labs.spec import get_lab

    spec = get_lab(req["lab"])
    frontier = spec.frontier_criterion
    reports = []
    for _ in range(req["lab_repetitions"]):
        report = run_check(
            req["lab"], reference=True, model=req["model"], backend=req["backend"],
            embed_backend=req.get("embed_backend"), embedding_model=req.get("embed_model"), device=req["device"],
            threads=req.get("threads"), limit=req.get("limit"), seed=req["seed"], timeout_s=req.get("check_timeout_s"),
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
        "lab": lab_figures(reports, {c.name: c.kind for c in spec.criteria if c.kind},
                           frontier.name if frontier else None).model_dump(mode="json"), "info": info,
        "device": info.get("device"), "uses_chat_model": "chat" in roles,
    }


def _fingerprint(req: dict[str, Any]) -> dict[str, Any]:
    """The chat model's greedy-output fingerprint with the labs' settings (the throughput cell's own
    backend runs as llama-bench does, flash attention on: not how the labs answer)."""
    from harness.bench.fingerprint import greedy_fingerprint
    from harness.labs.child import open_backend_spec  # as a lab opens it: same defaults, custom backends too

    backend = open_backend_spec(req["backend"], req["model"], "chat", req["device"], req.get("threads"))
    try:
        fp = greedy_fingerprint(backend)
        info = backend.info()
    finally:
        backend.close()
    return fp | {"threads": info.threads, "flash_attn": info.extra.get("flash_attn"), "device_used": info.device,
                 "n_gpu_layers": info.n_gpu_layers}


def main(argv: list[str]) -> int:
    from harness.procs import Ended, die_with_parent, ending_signals

    req = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    die_with_parent(req.get("parent_pid"))  # the bench process was killed outright: end too
    out: dict[str, Any]
    t0 = time.perf_counter()
    with ending_signals(), VramSampler() as vram:  # SIGTERM from the bench: the lab's child is killed first
        try:
            out = _run_throughput(req) if req["lab"] == "throughput" else _run_lab(req)
            out["status"] = "ok"
            if req.get("fingerprint"):
                try:
                    out["fingerprint"] = _fingerprint(req)
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
    Path(req["output"]).write_text(json.dumps(out, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
