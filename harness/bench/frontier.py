"""The accuracy-vs-speed frontier of bench results, per lab, and the configuration to recommend.

A configuration is model x embedding quantisation x backend x device x threads: one lab cell. Per lab:
- points: the configuration, its accuracy (the lab's frontier criterion, lab.toml `frontier = true`),
  its per-item latency p50 and its decode tok/s where known (the lab's own figure, else the throughput
  cell of the same model, backend, device and threads in the same file);
- Pareto-optimal flags: no other point is at least as accurate and at least as fast (lower latency;
  higher decode tok/s), and better in one;
- the recommendation: the fastest configuration (per-item latency) whose accuracy is not significantly
  worse than the best one's, by an exact McNemar test on the per-item outcomes (p >= 0.05), or the best
  itself. Only configurations that answered the same items (same item-id digest, same lab version) are
  paired; others are never tested, and the output says so.
Pure functions of ResultFiles: no model, no file system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bench.compare import center
from harness.bench.schema import LabFigures, ResultFile, RunResult
from harness.grading.stats import mcnemar_exact

ALPHA = 0.05  # "significantly worse": McNemar p below this
ABOUT_AS_FAST = 0.05  # a speed-up under 5% is within the jitter of per-item latencies on a shared host
_PREFERRED = ("acc", "recall", "correct", "f1", "exact")  # the figure to plot for a lab that declares none
CONFIG_PARTS = ("model", "embedder", "backend", "device", "threads")


@dataclass
class Point:
    lab: str
    file: str
    config: dict[str, str]  # CONFIG_PARTS that apply to this cell
    accuracy: float | None
    figure: str | None  # the accuracy figure's name
    latency_s: float | None  # per-item p50
    decode_tok_s: float | None
    decode_source: str | None  # "lab" | "throughput cell"
    outcomes: list[int] | None
    items_sha256: str | None
    lab_version: str | None
    outcomes_note: str | None = None  # why there are no outcomes
    label: str = ""  # the parts that differ between the lab's points
    pareto_latency: bool | None = None  # None: not on that plot (a figure missing)
    pareto_decode: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "file": self.file,
            "config": self.config,
            "figure": self.figure,
            "accuracy": self.accuracy,
            "item_p50_s": self.latency_s,
            "decode_tok_s": self.decode_tok_s,
            "decode_source": self.decode_source,
            "items": len(self.outcomes) if self.outcomes else None,
            "items_sha256": self.items_sha256,
            "pareto_latency": self.pareto_latency,
            "pareto_decode": self.pareto_decode,
            "outcomes_note": self.outcomes_note,
        }


@dataclass
class PairedTest:
    label: str  # the configuration tested against the best
    accuracy: float
    paired: bool
    b: int | None = None  # the best right, this one wrong
    c: int | None = None  # this one right, the best wrong
    p_value: float | None = None
    not_worse: bool | None = None  # None: not tested
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "accuracy": self.accuracy,
            "paired": self.paired,
            "b": self.b,
            "c": self.c,
            "p_value": self.p_value,
            "not_significantly_worse": self.not_worse,
            "note": self.note,
        }


@dataclass
class LabFrontier:
    lab: str
    figure: str | None
    points: list[Point]
    best: Point | None = None
    recommended: Point | None = None
    reason: str = ""
    tests: list[PairedTest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # points plotted but never recommended, and why

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "figure": self.figure,
            "points": [p.to_dict() for p in self.points],
            "best": self.best.label if self.best else None,
            "recommended": self.recommended.label if self.recommended else None,
            "reason": self.reason,
            "tests": [t.to_dict() for t in self.tests],
            "notes": self.notes,
        }


def _uses_chat(run: RunResult) -> bool:
    roles = run.backend_info.get("roles")
    return "chat" in roles if isinstance(roles, dict) else run.model_sha256 is not None


def config_of(run: RunResult) -> dict[str, str]:
    threads = run.settings.threads
    parts = {
        "model": run.cell.model if _uses_chat(run) else None,
        "embedder": (
            f"{run.embed_model.name} {run.embed_model.quant}"
            if run.embed_model
            else f"embedder {run.cell.embed_quant}"
            if run.cell.embed_quant
            else None
        ),
        "backend": run.cell.backend,
        "device": run.device_used or run.cell.device,
        "threads": "default threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}",
    }
    return {k: v for k, v in parts.items() if v}


def accuracy_of(lab: LabFigures) -> tuple[str | None, float | None]:
    """The frontier figure: the per-item outcomes' criterion, else (a lab without them, plotted only) the
    first score named like an accuracy."""
    if lab.outcomes:
        return lab.outcomes.figure, sum(lab.outcomes.correct) / len(lab.outcomes.correct)
    scores = {**lab.accuracy, **{k: v for k, v in lab.retrieval.items() if "per_s" not in k and k != "qps"}}
    name = next((k for k in scores if any(w in k.lower() for w in _PREFERRED)), next(iter(scores), None))
    return name, center(scores[name]) if name else None


def _lab_decode(lab: LabFigures) -> float | None:
    for k, stat in lab.latency.items():
        if k.startswith("decode_tok_s") and center(stat):
            return center(stat)
    return None


def _throughput_decode(run: RunResult, result: ResultFile, others: list[ResultFile]) -> float | None:
    """tg tok/s of the throughput cell that ran this configuration's chat model alike: in the same file,
    else in another file from the same machine (its system key)."""
    same_machine = [
        tp
        for res in others
        if res is not result
        for tp in res.runs
        if tp.system == run.system and run.system in res.systems
    ]
    for tp in [*result.runs, *same_machine]:
        if (
            tp.throughput
            and tp.status == "ok"
            and tp.cell.model == run.cell.model
            and tp.cell.backend == run.cell.backend
            and (tp.device_used or tp.cell.device) == (run.device_used or run.cell.device)
            and tp.settings.threads == run.settings.threads
        ):
            return center(tp.throughput.tg_tok_s)
    return None


def point_of(run: RunResult, result: ResultFile, name: str, others: list[ResultFile] = ()) -> Point:  # type: ignore[assignment]
    lab = run.lab
    assert lab is not None
    figure, acc = accuracy_of(lab)
    decode, source = _lab_decode(lab), "lab"
    if decode is None and _uses_chat(run):
        decode, source = _throughput_decode(run, result, list(others)), "throughput cell"
    latency = lab.latency.get("item_p50_s")
    return Point(
        lab=run.cell.lab,
        file=name,
        config=config_of(run),
        accuracy=acc,
        figure=figure,
        latency_s=center(latency) if latency else None,
        decode_tok_s=decode,
        decode_source=source if decode else None,
        outcomes=list(lab.outcomes.correct) if lab.outcomes else None,
        items_sha256=lab.outcomes.items_sha256 if lab.outcomes else None,
        lab_version=lab.lab_version,
        outcomes_note=None
        if lab.outcomes
        else (lab.outcomes_note or "no per-item outcomes in the file (written before schema v6)"),
    )


def _label(points: list[Point]) -> None:
    """Each point named by the parts that differ between the lab's points ("smollm2-135m · 1 thread")."""
    varying = [k for k in CONFIG_PARTS if len({p.config.get(k) for p in points}) > 1]
    for p in points:
        parts = [p.config[k] for k in (varying or CONFIG_PARTS[:2]) if k in p.config]
        p.label = " · ".join(parts) or " · ".join(p.config.values())
    seen: dict[str, int] = {}
    for p in points:  # the same configuration in two files
        seen[p.label] = seen.get(p.label, 0) + 1
        if seen[p.label] > 1:
            p.label += f" ({Path(p.file).name})"


def pareto(values: list[tuple[float, float] | None]) -> list[bool | None]:
    """values: (accuracy, speed) with higher better in both; True where no other point is at least as
    good in both and better in one. None where a value is missing."""
    out: list[bool | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        dominated = any(
            w is not None and w[0] >= v[0] and w[1] >= v[1] and (w[0] > v[0] or w[1] > v[1]) for w in values
        )
        out.append(not dominated)
    return out


def _mark_pareto(points: list[Point]) -> None:
    lat = pareto(
        [(p.accuracy, -p.latency_s) if p.accuracy is not None and p.latency_s is not None else None for p in points]
    )
    dec = pareto(
        [
            (p.accuracy, p.decode_tok_s) if p.accuracy is not None and p.decode_tok_s is not None else None
            for p in points
        ]
    )
    for p, a, b in zip(points, lat, dec):
        p.pareto_latency, p.pareto_decode = a, b


def _paired(best: Point, other: Point) -> bool:
    return (
        best.items_sha256 == other.items_sha256
        and best.lab_version == other.lab_version
        and len(best.outcomes or []) == len(other.outcomes or [])
    )


def recommend(frontier: LabFrontier) -> None:
    """Fills best, recommended, reason, tests and notes of one lab's frontier."""
    points = frontier.points
    for p in points:
        if p.outcomes is None:
            frontier.notes.append(f"{p.label}: plotted, never recommended: {p.outcomes_note}")
        elif p.latency_s is None:
            frontier.notes.append(
                f"{p.label}: plotted, never recommended: no per-item latency (item_p50_s) in the file"
            )
    cands = [p for p in points if p.outcomes is not None and p.latency_s is not None and p.accuracy is not None]
    if not cands:
        frontier.reason = (
            f"no recommendation for {frontier.lab}: no configuration has per-item outcomes and a "
            "per-item latency, so none can be tested against another"
        )
        return
    best = max(cands, key=lambda p: (p.accuracy, -p.latency_s))  # type: ignore[operator]
    frontier.best = best
    fine = [best]
    for p in cands:
        if p is best:
            continue
        if not _paired(best, p):
            frontier.tests.append(
                PairedTest(
                    p.label,
                    p.accuracy,  # type: ignore[arg-type]
                    paired=False,
                    note=f"other items than {best.label}'s (another seed, --limit, dataset or "
                    "lab version): not paired, so not tested and not recommended",
                )
            )
            continue
        m = mcnemar_exact([bool(x) for x in best.outcomes], [bool(x) for x in p.outcomes])  # type: ignore[union-attr]
        ok = m.p_value >= ALPHA or p.accuracy >= best.accuracy  # type: ignore[operator]
        frontier.tests.append(
            PairedTest(
                p.label,
                p.accuracy,  # type: ignore[arg-type]
                paired=True,
                b=m.b,
                c=m.c,
                p_value=m.p_value,
                not_worse=ok,
                note="not significantly worse" if ok else "significantly worse",
            )
        )
        if ok:
            fine.append(p)
    rec = min(fine, key=lambda p: (p.latency_s, -p.accuracy))  # type: ignore[operator]
    frontier.recommended = rec
    frontier.reason = _reason(frontier, best, rec)


def ms_text(seconds: float) -> str:
    """Three significant digits, no exponent: 8.8, 689, 1167."""
    ms = seconds * 1000
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def _ms(s: float) -> str:
    return f"{ms_text(s)} ms" if s < 10 else f"{s:.1f} s"


def _reason(frontier: LabFrontier, best: Point, rec: Point) -> str:
    n = len(best.outcomes or [])
    tests = {t.label: t for t in frontier.tests}
    if rec is best:
        faster = sorted(
            (p for p in frontier.points if p.label in tests and p.latency_s < best.latency_s),  # type: ignore[operator]
            key=lambda p: p.latency_s,  # type: ignore[arg-type, return-value]
        )
        head = f"{rec.label}: the most accurate ({rec.accuracy:.3g} on {n} items), {_ms(rec.latency_s)} per item"  # type: ignore[arg-type]
        if not faster:
            return head + "; no tested configuration is faster"
        t = tests[faster[0].label]
        if not t.paired:
            return head + f"; the faster {t.label} answered other items, so it was not tested"
        return head + (
            f"; the faster {t.label} is significantly worse ({t.accuracy:.3g}, McNemar b={t.b} c={t.c} "
            f"p={t.p_value:.2g})"
        )
    t = tests[rec.label]
    assert rec.latency_s is not None and best.latency_s is not None  # recommended ones have a latency
    speedup = best.latency_s / rec.latency_s
    about = " (within 5%: about as fast)" if speedup < 1 + ABOUT_AS_FAST else ""
    return (
        f"{rec.label}: {rec.accuracy:.3g} vs best {best.accuracy:.3g} ({best.label}), McNemar b={t.b} c={t.c} "
        f"p={t.p_value:.2g} on {n} items, {speedup:.1f}x faster per item ({_ms(rec.latency_s)} vs "
        f"{_ms(best.latency_s)}){about}"
    )


def frontiers(results: list[ResultFile], names: list[str]) -> list[LabFrontier]:
    """One frontier per lab that has lab cells in the files, in the order the labs first appear."""
    per_lab: dict[str, list[Point]] = {}
    for res, name in zip(results, names):
        for run in res.runs:
            if run.status == "ok" and run.lab is not None:
                per_lab.setdefault(run.cell.lab, []).append(point_of(run, res, name, results))
    out = []
    for lab, points in per_lab.items():
        _label(points)
        _mark_pareto(points)
        figure = next((p.figure for p in points if p.outcomes), None) or next(
            (p.figure for p in points if p.figure), None
        )
        frontier = LabFrontier(lab=lab, figure=figure, points=points)
        recommend(frontier)
        out.append(frontier)
    return out
