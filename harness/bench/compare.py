"""`harness compare`: the same cells across result files, side by side, with ratios and noise marks.

A difference is marked real when it exceeds the noise the spreads allow,
|Δ| > 2·sqrt(sA² + sB²), and a relative floor (a figure measured once has no spread, so its floor is
wider). Accuracy that differs for the same model and settings is a finding of its own: at
temperature 0 it should not differ between machines or backends.

Host drift: two runs on one machine can differ because the machine itself ran slower for a while. Each
cell carries the host probe's speed around it (harness/bench/probe.py). Where both cells ran on the
CPU of like machines, a speed or latency difference that is no longer beyond the noise once the
probe's ratio is divided out is marked "host" (~), not better/worse: it follows the host's speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bench.comparability import BASELINE_FEATURES, Verdict, group_key, verdicts
from harness.bench.matrix import dimensions_text
from harness.bench.schema import ResultFile, RunResult, Stat, SystemInfo

REL_FLOOR = 0.05  # both sides have a spread (n >= 2)
REL_FLOOR_SINGLE = 0.25  # at least one side was measured once: its noise is unknown
# ... and a one-off model load jitters by more than 25% (measured: one load of the same model in 12
# identical fresh processes took 0.38-0.56 s; in two identical bench runs 0.65 vs 0.44 s)
LOAD_FLOOR_SINGLE_S = 0.25
ACC_TOL = 1e-9

HIGHER_BETTER, LOWER_BETTER, NEUTRAL = "higher", "lower", "neutral"


@dataclass
class Metric:
    name: str
    kind: str  # speed | latency | accuracy | memory | energy
    better: str
    stat: Stat


@dataclass
class Row:
    cell: str
    metric: str
    kind: str
    better: str
    stats: list[Stat | None]
    ratios: list[float | None] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)  # "" | "better" | "worse" | "host" | "differs"
    host_ratios: list[float | None] = field(default_factory=list)  # host probe speed, file i / file 1


@dataclass
class Comparison:
    files: list[str]
    systems: list[str]
    rows: list[Row]
    findings: list[str]
    notes: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # said before any figure (comparability.py)

    def verdict_lines(self) -> list[str]:
        return [v.text(self.files[0]) for v in self.verdicts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "systems": self.systems,
            "verdicts": [v.to_dict() | {"text": v.text(self.files[0])} for v in self.verdicts],
            "rows": [
                {
                    "cell": r.cell,
                    "metric": r.metric,
                    "kind": r.kind,
                    "better": r.better,
                    "values": [s.model_dump() if s else None for s in r.stats],
                    "ratios": r.ratios,
                    "marks": r.marks,
                    "host_ratios": r.host_ratios,
                }
                for r in self.rows
            ],
            "findings": self.findings,
            "notes": self.notes,
        }


def center(s: Stat | None) -> float | None:
    if s is None or s.n == 0:
        return None
    return s.mean if s.mean is not None else s.median


def exceeds_noise(a: Stat, b: Stat, extra_rel: float = 0.0, one_off_load: bool = False) -> bool:
    """extra_rel: a further relative uncertainty of the comparison (the host probe's, when a was scaled by it).
    one_off_load: the figure is a model load timing (a floor of LOAD_FLOOR_SINGLE_S when measured once)."""
    ca, cb = center(a), center(b)
    if ca is None or cb is None:
        return False
    delta = abs(cb - ca)
    noise = 2 * math.sqrt((a.stddev or 0.0) ** 2 + (b.stddev or 0.0) ** 2 + (extra_rel * max(abs(ca), abs(cb))) ** 2)
    floor = (REL_FLOOR if min(a.n, b.n) >= 2 else REL_FLOOR_SINGLE) * max(abs(ca), abs(cb))
    if one_off_load and min(a.n, b.n) < 2:
        floor = max(floor, LOAD_FLOOR_SINGLE_S)
    return delta > noise and delta > floor


def scaled(s: Stat, factor: float) -> Stat:
    pick = lambda v: None if v is None else v * factor  # noqa: E731
    return s.model_copy(
        update={k: pick(getattr(s, k)) for k in ("mean", "median", "p95", "min", "max")}
        | {"stddev": None if s.stddev is None else s.stddev * abs(factor)}
    )


@dataclass
class HostRatio:
    ratio: float  # probe speed in B / probe speed in A
    rel_err: float  # its relative standard error


def host_ratio(a: RunResult, b: RunResult, sys_a: SystemInfo | None, sys_b: SystemInfo | None) -> HostRatio | None:
    """How much faster B's host ran than A's around these cells, where the probe can say: both probed
    with the same method, both on the CPU (the probe measures the CPU), on like machines (across
    different machines a speed difference is what the comparison is for)."""
    pa, pb = a.host_probe, b.host_probe
    on_cpu = lambda r: r.device_used in ("cpu", None)  # noqa: E731  (None: no model loaded, e.g. FAISS only)
    if not (pa and pb and sys_a and sys_b and on_cpu(a) and on_cpu(b)):
        return None
    like = lambda s: (s.cpu_model, s.cpu_cores_logical, s.ram_bytes, s.host_probe_method)  # noqa: E731
    ca, cb = center(pa), center(pb)
    if like(sys_a) != like(sys_b) or sys_a.host_probe_method is None or not ca or not cb:
        return None
    sem = lambda s, c: (s.stddev or 0.0) / c / math.sqrt(max(s.n, 1))  # noqa: E731
    return HostRatio(cb / ca, math.hypot(sem(pa, ca), sem(pb, cb)))


def known_cause(a: RunResult, b: RunResult) -> str:
    """A measured cause of accuracy differing between two runs' settings (the backends' records:
    harness/backends/catalog.py numerics_effects)."""
    from harness.backends.catalog import numerics_effects

    sa, sb = (r.settings.model_dump() | {"device": r.device_used} for r in (a, b))
    causes = [e.text(sa, sb) for e in numerics_effects() if e.applies(sa, sb)]
    return f"; known cause: {'; '.join(causes)}" if causes else ""


def cell_label(run: RunResult) -> str:
    c = run.cell
    return f"{c.lab} · {c.model} · {c.backend} · {c.device}{dimensions_text(c)}"


def run_metrics(run: RunResult) -> list[Metric]:
    out: list[Metric] = []
    tp = run.throughput
    if tp:
        out.append(Metric(f"pp{tp.pp_tokens} tok/s", "speed", HIGHER_BETTER, tp.pp_tok_s))
        out.append(Metric(f"tg{tp.tg_tokens} tok/s", "speed", HIGHER_BETTER, tp.tg_tok_s))
        if tp.load_s:
            out.append(Metric("model load s", "latency", LOWER_BETTER, tp.load_s))
        for p in tp.pairs:
            out.append(Metric(f"ttft {p.n_prompt}+{p.n_gen} s", "latency", LOWER_BETTER, p.ttft_s))
            out.append(Metric(f"decode {p.n_prompt}+{p.n_gen} tok/s", "speed", HIGHER_BETTER, p.decode_tok_s))
        for key, label in (("pp_j_per_token", "pp J/token"), ("tg_j_per_token", "tg J/token")):
            joules = getattr(tp.energy, key) if tp.energy else None
            if joules is not None:
                out.append(
                    Metric(label, "energy", LOWER_BETTER, Stat(mean=joules, median=joules, n=1, stddev=0.0, unit="J"))
                )
        for d in tp.depths:
            out.append(Metric(f"decode at depth {d.depth} tok/s", "speed", HIGHER_BETTER, d.decode_tok_s))
            for q in ("p50", "p99"):  # pooled over every token: one figure, its spread unknown
                v = getattr(d.itl_ms, q)
                if v is not None:
                    out.append(
                        Metric(
                            f"ITL {q} at depth {d.depth} ms",
                            "latency",
                            LOWER_BETTER,
                            Stat(mean=v, median=v, n=1, stddev=0.0, unit="ms"),
                        )
                    )
    lab = run.lab
    if lab:
        for k, s in lab.accuracy.items():
            out.append(Metric(k, "accuracy", HIGHER_BETTER, s))
        for k, s in lab.retrieval.items():
            speed = "per_s" in k or k == "qps"
            out.append(Metric(k, "speed" if speed else "accuracy", HIGHER_BETTER, s))
        for k, s in lab.latency.items():
            speed = "tok_s" in k or "per_s" in k or "speedup" in k
            out.append(Metric(k, "speed" if speed else "latency", HIGHER_BETTER if speed else LOWER_BETTER, s))
    if run.decode_efficiency is not None:
        out.append(
            Metric(
                "decode efficiency",
                "speed",
                HIGHER_BETTER,
                Stat(mean=run.decode_efficiency, median=run.decode_efficiency, n=1, stddev=0.0),
            )
        )
    if run.peak_rss_bytes:
        mib = run.peak_rss_bytes / 2**20
        out.append(
            Metric("peak RSS MiB", "memory", LOWER_BETTER, Stat(mean=mib, median=mib, n=1, stddev=0.0, unit="MiB"))
        )
    if run.peak_vram_bytes:
        mib = run.peak_vram_bytes / 2**20
        out.append(
            Metric("peak VRAM MiB", "memory", LOWER_BETTER, Stat(mean=mib, median=mib, n=1, stddev=0.0, unit="MiB"))
        )
    return out


def _comparable(a: RunResult, b: RunResult) -> bool:
    """Same model file and the settings that decide the answers (device/threads may differ)."""
    same_model = (a.model_sha256 or a.cell.model) == (b.model_sha256 or b.cell.model)
    sa, sb = a.settings, b.settings
    same_lab = (a.lab.lab_version if a.lab else None) == (b.lab.lab_version if b.lab else None)
    return same_model and same_lab and (sa.seed, sa.temperature, sa.limit) == (sb.seed, sb.temperature, sb.limit)


def system_label(result: ResultFile) -> str:
    parts = []
    for s in result.systems.values():
        gpu = f", {s.gpus[0].name}" if s.gpus else ""
        parts.append(f"{s.cpu_model or 'unknown CPU'} ({s.cpu_cores_logical or '?'} logical cores){gpu}")
    return "; ".join(dict.fromkeys(parts))


def build_label(result: ResultFile) -> str:
    """How the file's llama.cpp was built: version, compiled CPU features, AMX, extra buffers, flags."""
    parts = []
    for s in result.systems.values():
        b = s.llama_cpp_build
        if b is None:
            parts.append(f"llama-cpp-python {s.llama_cpp_version or '?'} (build not recorded)")
            continue
        features = " ".join(f for f in b.cpu_features if f not in BASELINE_FEATURES) or "none"
        repack = "" if b.extra_bufts is not False else ", extra buffer types off"
        flags = f"CMAKE_ARGS {b.cmake_args!r}" if b.built_by else "flags unknown"
        parts.append(
            f"llama-cpp-python {s.llama_cpp_version or '?'} ({features}; AMX {'on' if b.amx else 'off'}"
            f"{repack}; {flags})"
        )
    return "; ".join(dict.fromkeys(parts))


def split_by_backend(results: list[ResultFile], names: list[str]) -> tuple[list[ResultFile], list[str]]:
    """One column per (file, backend): the cells of a multi-backend file side by side. The backend
    leaves the cell label (it is in the column name), so the same lab/model/device lines up."""
    out, out_names = [], []
    for res, name in zip(results, names):
        for backend in dict.fromkeys(r.cell.backend for r in res.runs):
            runs = [
                r.model_copy(update={"cell": r.cell.model_copy(update={"backend": "*"})})
                for r in res.runs
                if r.cell.backend == backend
            ]
            out.append(res.model_copy(update={"runs": runs}))
            out_names.append(f"{name} [{backend}]")
    return out, out_names


def _explained_by_host(proto: Metric, base: Stat, s: Stat, host: HostRatio) -> bool:
    """Host drift: the probe moved at least half as far as the figure, the same way, and what is left
    once the probe's ratio is divided out is noise. A real difference with a wide spread is not
    explained away by a small drift."""
    ca, cb = center(base), center(s)
    if not ca or not cb or ca <= 0 or cb <= 0:
        return False
    # what file 1 would have read at this host speed: tok/s scale with it, seconds inversely
    expected = scaled(base, host.ratio if proto.kind == "speed" else 1 / host.ratio)
    moved, probe_moved = math.log(cb / ca), math.log(center(expected) / ca)  # type: ignore[operator]
    return (
        moved * probe_moved > 0
        and abs(probe_moved) >= abs(moved) / 2
        and not exceeds_noise(expected, s, extra_rel=host.rel_err, one_off_load=_is_load(proto))
    )


def _is_load(m: Metric) -> bool:
    return m.kind == "latency" and "load" in m.name


def _mark(proto: Metric, base: Stat, s: Stat, host: HostRatio | None) -> str:
    if not exceeds_noise(base, s, one_off_load=_is_load(proto)):
        return ""
    # a speedup is a ratio of two timings of one run: the host's speed cancels out of it
    if (
        host
        and proto.kind in ("speed", "latency")
        and "speedup" not in proto.name
        and _explained_by_host(proto, base, s, host)
    ):
        return "host"
    better = (center(s) > center(base)) == (proto.better == HIGHER_BETTER)  # type: ignore[operator]
    return "better" if better else "worse"


def compare(results: list[ResultFile], names: list[str]) -> Comparison:
    by_file: list[dict[str, RunResult]] = [{cell_label(r): r for r in res.runs if r.status == "ok"} for res in results]
    cells = list(dict.fromkeys(label for runs in by_file for label in runs))
    rows: list[Row] = []
    findings: list[str] = []
    judged = verdicts(results, names)
    for label in cells:
        per_file = [runs.get(label) for runs in by_file]
        hosts = [
            host_ratio(per_file[0], r, results[0].systems.get(per_file[0].system), res.systems.get(r.system))
            if per_file[0] and r
            else None
            for r, res in zip(per_file, results)
        ]
        differing: dict[int, list[str]] = {}  # file index -> accuracy figures that differ from file 1
        metric_maps = [{m.name: m for m in run_metrics(r)} if r else {} for r in per_file]
        metric_names = list(dict.fromkeys(n for mm in metric_maps for n in mm))
        for name in metric_names:
            ms = [mm.get(name) for mm in metric_maps]
            proto = next(m for m in ms if m)
            stats = [m.stat if m else None for m in ms]
            row = Row(label, name, proto.kind, proto.better, stats, host_ratios=[h.ratio if h else None for h in hosts])
            base = stats[0]
            for i, s in enumerate(stats):
                cb, ca = center(s), center(base)
                row.ratios.append(cb / ca if cb is not None and ca not in (None, 0) else None)
                mark = ""
                if i > 0 and s is not None and base is not None:
                    if proto.kind == "accuracy":
                        if ca is not None and cb is not None and abs(cb - ca) > ACC_TOL:
                            mark = "differs"
                            a_run, b_run = per_file[0], per_file[i]
                            if a_run and b_run and _comparable(a_run, b_run):
                                differing.setdefault(i, []).append(f"{name} {ca:.4g} vs {cb:.4g}")
                    else:
                        mark = _mark(proto, base, s, hosts[i])
                row.marks.append(mark)
            rows.append(row)
        for i, items in differing.items():  # one finding per cell and file, its cause said once
            findings.append(
                f"{label}: {'; '.join(items)} in {names[0]} vs {names[i]}, with the same model and settings"
                + _why_accuracy_differs(judged, names[i], per_file[0], per_file[i])  # type: ignore[arg-type]
            )
    return Comparison(
        files=names,
        systems=[system_label(r) for r in results],
        rows=rows,
        findings=findings,
        notes=_notes(rows, names, results),
        verdicts=judged,
    )


def _why_accuracy_differs(judged: list[Verdict], name: str, a: RunResult, b: RunResult) -> str:
    """What the greedy-output fingerprints say about it, or the thread-count rule where they are missing."""
    verdict = next((v for v in judged if v.file == name and v.group == group_key(a.cell)), None)
    if verdict and verdict.same_answers is False:
        cause = next(c for c in verdict.caveats if c.startswith("greedy outputs differ"))
        return f": expected, the {cause}"
    if verdict and verdict.same_answers is True:
        return (
            ": NOT expected, the greedy-output fingerprints are equal; the lab's own data, seed or grader "
            "may differ (check its version) or a lab is not deterministic"
        )
    return " (expected equal at temperature 0)" + known_cause(a, b)


def _notes(rows: list[Row], names: list[str], results: list[ResultFile]) -> list[str]:
    out = []
    for i in range(1, len(names)):
        marks = [r.marks[i] for r in rows if r.kind in ("speed", "latency")]
        host = [h for r in rows if r.marks[i] == "host" and (h := r.host_ratios[i])]
        if host:
            real = sum(m in ("better", "worse") for m in marks)
            out.append(
                f"{names[i]}: {real + len(host)} of {len(marks)} speed/latency figures differ beyond their spreads; "
                f"{len(host)} of them follow the host's speed (host probe {min(host):.2f}-{max(host):.2f}x file 1 "
                f"in those cells): host drift, not a difference between the runs; {real} remain marked ▲/▼"
            )
    builds = [build_label(res) for res in results]
    for i in range(1, len(names)):
        if builds[i] != builds[0]:
            out.append(
                f"llama.cpp builds differ: {names[0]}: {builds[0]}; {names[i]}: {builds[i]}. Speed figures "
                "compare the builds as well as the machines"
            )
    if any(not any(s.host_probe_method for s in res.systems.values()) for res in results):
        out.append(
            "host drift cannot be told from a real difference for files without a host probe "
            "(written before schema v2, or bench --no-host-probe)"
        )
    return out


LEGEND = (
    "▲/▼: better/worse beyond the noise of the spreads; ~: beyond the spreads, but the host probe moved at "
    "least half as far the same way and explains the rest (host drift); ≠: accuracy differs."
)


def fmt_stat(s: Stat | None) -> str:
    c = center(s)
    if s is None or c is None:
        return "-"
    text = f"{c:.4g}"
    if s.n > 1 and s.stddev:
        text += f" ± {s.stddev:.2g}"
    return text


def fmt_ratio(r: float | None, mark: str) -> str:
    if r is None:
        return "-"
    sym = {"better": " ▲", "worse": " ▼", "host": " ~", "differs": " ≠"}.get(mark, "")
    return f"{r:.2f}x{sym}"


def to_markdown(cmp: Comparison) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

    head = ["cell", "metric"]
    for i, f in enumerate(cmp.files):
        head.append(esc(Path(f).name))
        if i:
            head.append(f"ratio {i + 1}/1")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in cmp.rows:
        cells = [esc(r.cell), esc(r.metric)]
        for i, s in enumerate(r.stats):
            cells.append(fmt_stat(s))
            if i:
                cells.append(fmt_ratio(r.ratios[i], r.marks[i]))
        lines.append("| " + " | ".join(cells) + " |")
    legend = f"\n{LEGEND}\n"
    verdict = "".join(f"- **{esc(x)}**\n" for x in cmp.verdict_lines())
    systems = "".join(f"\n- {esc(Path(f).name)}: {esc(s)}" for f, s in zip(cmp.files, cmp.systems))
    findings = "".join(f"\n- **finding**: {esc(x)}" for x in cmp.findings)
    notes = "".join(f"\n- note: {esc(x)}" for x in cmp.notes)
    return (
        (verdict + "\n" if verdict else "")
        + "\n".join(lines)
        + "\n"
        + legend
        + systems
        + ("\n" + findings if findings else "")
        + notes
        + "\n"
    )


def to_rich(cmp: Comparison):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="harness compare", show_lines=False)
    table.add_column("cell")
    table.add_column("metric")
    for i, f in enumerate(cmp.files):
        table.add_column(escape(Path(f).name), justify="right")
        if i:
            table.add_column(f"{i + 1}/1", justify="right")
    style = {"better": "green", "worse": "red", "host": "yellow", "differs": "bold magenta"}
    for r in cmp.rows:
        cells = [escape(r.cell), escape(r.metric)]
        for i, s in enumerate(r.stats):
            cells.append(fmt_stat(s))
            if i:
                text = fmt_ratio(r.ratios[i], r.marks[i])
                st = style.get(r.marks[i])
                cells.append(f"[{st}]{text}[/]" if st else text)
        table.add_row(*cells)
    return table
