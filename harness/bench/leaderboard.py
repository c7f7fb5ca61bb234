"""`harness leaderboard`: a static ranking of machines from a folder of shared result files.

No server and no upload: files arrive by pull request or gist, this reads the folder (recursively,
skipping .git) and writes one self-contained page. A file it cannot read is listed with the reason,
never dropped silently.

One table per model (scores of different models are not comparable). A row is one machine (CPU
model, logical cores, RAM, GPUs) × backend and its build (llama.cpp version and compiled CPU
features) × the device the cells ran on. Its score is LocalScore's formula:

    score = 10 · ∛(pp tok/s × tg tok/s × 1 / TTFT s)

with pp and tg the throughput cell's pp<N>/tg<N> (pp512/tg128 by default) and TTFT that of the pair
whose prompt is nearest 512 tokens (512+128 with the default pairs). The factor 10 puts LocalScore's
reference machine (5000 pp, 40 tg, 200 ms) at 1000.
"""

from __future__ import annotations

import html
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bench.comparability import BASELINE_FEATURES  # ggml's baseline: says nothing about the kernels
from harness.bench.compare import center
from harness.bench.io import read_result
from harness.bench.schema import LabFigures, RunResult, SystemInfo, ThroughputResult
from harness.errors import ResultFileError

TTFT_PROMPT = 512  # the pair whose TTFT enters the score: the one with the prompt nearest this
SCORE_SCALE = 10.0  # LocalScore's: its reference (5000 pp, 40 tg, 0.2 s TTFT) scores 1000
TEST_KEYS = ("pp_test", "tg_test", "ttft_pair")  # which tests a score came from
RAM_TOLERANCE = 0.10  # "like this machine": RAM within 10% (the OS reserves a little, differently)
FORMULA = (
    "score = 10 · ∛(pp tok/s × tg tok/s × 1/TTFT s): pp and tg are the throughput cell's "
    f"pp<N>/tg<N> (pp512/tg128 by default), TTFT that of the pair whose prompt is nearest {TTFT_PROMPT} "
    "tokens (512+128 by default); LocalScore's formula and scale (5000 pp, 40 tg and 200 ms score 1000). "
    "A row of several throughput cells shows the median of each figure."
)
SIMILARITY_RULE = (
    "like this machine: the same CPU model, logical cores, RAM within 10% and the same GPUs (or none); "
    "close to this machine: three of those four"
)


@dataclass(frozen=True)
class Machine:
    cpu_model: str | None
    cores: int | None
    ram_bytes: int | None
    gpus: tuple[str, ...]

    @classmethod
    def of(cls, s: SystemInfo) -> Machine:
        return cls(s.cpu_model, s.cpu_cores_logical, s.ram_bytes, tuple(sorted(g.name for g in s.gpus)))

    def key(self) -> tuple:
        # RAM to the GiB: two files of one machine may differ by a few MiB the kernel keeps
        ram = round(self.ram_bytes / 2**30) if self.ram_bytes else None
        return (_norm(self.cpu_model), self.cores, ram, self.gpus)

    def label(self) -> str:
        ram = f"{self.ram_bytes / 2**30:.0f} GiB RAM" if self.ram_bytes else "RAM ?"
        gpus = ", ".join(self.gpus) or "no GPU"
        return f"{self.cpu_model or 'unknown CPU'} · {self.cores or '?'} logical cores · {ram} · {gpus}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu_model": self.cpu_model,
            "cpu_cores_logical": self.cores,
            "ram_bytes": self.ram_bytes,
            "gpus": list(self.gpus),
        }


def _norm(text: str | None) -> str | None:
    return " ".join(text.lower().split()) if text else None


def build_label(system: SystemInfo, run: RunResult) -> str:
    """The backend and what its speed depends on: llama.cpp's version and compiled CPU features;
    for a server backend, the server's version."""
    backend = run.cell.backend
    if backend != "llama-cpp":
        return f"{backend} {run.backend_version or '?'}"
    b = system.llama_cpp_build
    features = " ".join(f for f in b.cpu_features if f not in BASELINE_FEATURES) if b else ""
    return f"llama-cpp {system.llama_cpp_version or '?'} ({features or ('features not recorded' if not b else 'no SIMD features')})"


def throughput_figures(tp: ThroughputResult) -> dict[str, Any] | None:
    """pp, tg, TTFT and the score of one throughput cell; None when a figure is missing (a server
    that reports no prompt tokens has no pp)."""
    pair = min(tp.pairs, key=lambda p: (abs(p.n_prompt - TTFT_PROMPT), p.n_prompt), default=None)
    pp, tg = center(tp.pp_tok_s), center(tp.tg_tok_s)
    ttft = center(pair.ttft_s) if pair else None
    if pair is None or not (pp and tg and ttft and pp > 0 and tg > 0 and ttft > 0):
        return None
    return {
        "score": SCORE_SCALE * (pp * tg / ttft) ** (1 / 3),
        "pp_tok_s": pp,
        "tg_tok_s": tg,
        "ttft_s": ttft,
        "pp_test": f"pp{tp.pp_tokens}",
        "tg_test": f"tg{tp.tg_tokens}",
        "ttft_pair": f"{pair.n_prompt}+{pair.n_gen}",
    }


@dataclass
class Row:
    model: str
    machine: Machine
    backend: str
    build: str
    device: str | None  # None: only cells that loaded no model (a retrieval-only lab)
    throughput: list[dict[str, Any]] = field(default_factory=list)  # throughput_figures of each cell
    labs: dict[str, tuple[str, LabFigures | None]] = field(
        default_factory=dict
    )  # lab -> (created_at, figures); None: failed
    failed: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rank: int | None = None
    similarity: int | None = None  # facts shared with this machine, of 4
    mark: str = ""

    def figure(self, name: str) -> float | None:
        values = [t[name] for t in self.throughput]
        return statistics.median(values) if values else None

    @property
    def score(self) -> float | None:
        return self.figure("score")

    def to_dict(self) -> dict[str, Any]:
        tests = self.throughput[0] if self.throughput else {}
        return {
            "rank": self.rank,
            "score": self.score,
            "pp_tok_s": self.figure("pp_tok_s"),
            "tg_tok_s": self.figure("tg_tok_s"),
            "ttft_s": self.figure("ttft_s"),
            "tests": {k: tests.get(k) for k in TEST_KEYS},
            "throughput_cells": len(self.throughput),
            "machine": self.machine.to_dict(),
            "backend": self.backend,
            "build": self.build,
            "device": self.device,
            "like_this_machine": {"matches": self.similarity, "of": 4, "mark": self.mark}
            if self.similarity is not None
            else None,
            "labs": {lab: _lab_dict(fig) for lab, (_, fig) in self.labs.items()},
            "failed_cells": self.failed,
            "files": self.files,
        }


def _lab_dict(fig: LabFigures | None) -> dict[str, Any]:
    if fig is None:
        return {"status": "error"}
    return {"status": "ok", "passed": fig.passed, "criteria": [c.model_dump() for c in fig.criteria]}


@dataclass
class Leaderboard:
    source: str  # the folder's name only: the page is shared, a full path may hold a home directory
    files: list[str]
    skipped: list[tuple[str, str]]  # (file, why)
    models: dict[str, list[Row]]
    local: Machine | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "formula": FORMULA,
            "similarity_rule": SIMILARITY_RULE,
            "this_machine": self.local.to_dict() if self.local else None,
            "files_read": self.files,
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
            "models": [{"model": m, "rows": [r.to_dict() for r in rows]} for m, rows in self.models.items()],
        }


def result_files(folder: Path) -> list[Path]:
    """Every *.json below folder, in a stable order, without descending into .git."""
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        out += [Path(root) / n for n in sorted(names) if n.endswith(".json")]
    return out


def local_machine() -> Machine:
    """This machine's facts, as `harness doctor` gathers them (no host name, user or home)."""
    from harness.hw.machine import system_info

    info = system_info(with_gpus=True)
    return Machine(
        info.get("cpu_model"),
        info.get("cpu_logical_cores"),
        info.get("ram_total_bytes"),
        tuple(sorted(g.get("name") or "unknown GPU" for g in info.get("gpus") or [])),
    )


def similarity(a: Machine, b: Machine) -> int:
    same_ram = bool(
        a.ram_bytes and b.ram_bytes and abs(a.ram_bytes - b.ram_bytes) <= RAM_TOLERANCE * max(a.ram_bytes, b.ram_bytes)
    )
    return sum(
        (
            a.cpu_model is not None and _norm(a.cpu_model) == _norm(b.cpu_model),
            a.cores is not None and a.cores == b.cores,
            same_ram,
            a.gpus == b.gpus,
        )
    )


def read_folder(
    folder: Path, *, local: Machine | None = None, on_skip: Callable[[str, str], None] | None = None
) -> Leaderboard:
    rows: dict[tuple, Row] = {}
    read, skipped = [], []
    for path in result_files(folder):
        name = path.relative_to(folder).as_posix()
        try:
            result = read_result(path)
            # the schema cannot check it: a run must point at a machine the file describes
            orphan = next((r for r in result.runs if r.system not in result.systems), None)
            if orphan:
                raise ResultFileError(
                    f"{path}: run {orphan.cell.lab} · {orphan.cell.model} points at system "
                    f"{orphan.system!r}, which the file does not hold"
                )
        except ResultFileError as e:
            why = e.message.replace(str(path), name)  # the file's name within the folder, not a local path
            skipped.append((name, why))
            if on_skip:
                on_skip(name, why)
            continue
        read.append(name)
        for run in result.runs:
            _add(rows, run, result.systems[run.system], name, result.created_at)
    _attach_deviceless(rows)
    models: dict[str, list[Row]] = {}
    for row in rows.values():
        if local is not None:
            row.similarity = similarity(row.machine, local)
            row.mark = {4: "like this machine", 3: "close to this machine"}.get(row.similarity, "")
        models.setdefault(row.model, []).append(row)
    for model_rows in models.values():
        model_rows.sort(key=lambda r: (r.score is None, -(r.score or 0.0), r.machine.label(), r.build, r.device or ""))
        for i, r in enumerate(x for x in model_rows if x.score is not None):
            r.rank = i + 1
    return Leaderboard(folder.resolve().name, read, skipped, dict(sorted(models.items())), local)


def _add(rows: dict[tuple, Row], run: RunResult, system: SystemInfo, name: str, created_at: str) -> None:
    machine, label = Machine.of(system), build_label(system, run)
    key = (run.cell.model, machine.key(), run.cell.backend, label, run.device_used)
    row = rows.setdefault(key, Row(run.cell.model, machine, run.cell.backend, label, run.device_used))
    if name not in row.files:
        row.files.append(name)
    if run.status != "ok":
        row.failed.append(run.cell.lab)
        if run.cell.lab != "throughput" and run.cell.lab not in row.labs:
            row.labs[run.cell.lab] = ("", None)
    elif run.throughput:
        figures = throughput_figures(run.throughput)
        if figures:
            row.throughput.append(figures)
    elif run.lab and created_at >= row.labs.get(run.cell.lab, ("", None))[0]:
        row.labs[run.cell.lab] = (created_at, run.lab)  # the newest file's figures


def _attach_deviceless(rows: dict[tuple, Row]) -> None:
    """A cell that loaded no model (FAISS only) did not depend on the device: show it in every
    device row of its machine, model and backend; alone only where there is none."""
    for key, row in list(rows.items()):
        if row.device is not None:
            continue
        hosts = [r for k, r in rows.items() if k[:4] == key[:4] and r.device is not None]
        for host in hosts:
            for lab, entry in row.labs.items():
                if lab not in host.labs or entry[0] > host.labs[lab][0]:
                    host.labs[lab] = entry
            host.failed += [f for f in row.failed if f not in host.failed]
            host.files += [f for f in row.files if f not in host.files]
        if hosts:
            del rows[key]


# ---------- output ----------

_CSS_EXTRA = """
.like{background:#e8f5e9}.close{background:#f4f9f4}
.mark{font-size:11px;color:#087f23;font-weight:bold;white-space:nowrap}
.pass{color:#087f23}.fail{color:#b00020}.crit{white-space:nowrap}
td.lab,td.machine{text-align:left;font-size:12px}
.formula{background:#f5f5f5;padding:6px 10px;border-left:4px solid #4c72b0}
"""


def _num(x: float | None) -> str:
    """Three significant digits, without the exponent that :.3g gives from 1000 up."""
    if x is None:
        return "-"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _lab_cell(fig: LabFigures | None) -> str:
    e = html.escape
    if fig is None:
        return "<span class='fail'>failed</span>"
    verdicts: dict[bool | None, str] = {
        True: "<span class='pass'>✓ passed</span>",
        False: "<span class='fail'>✗ not passed</span>",
    }
    verdict = verdicts.get(fig.passed, "?")
    crits = "".join(
        f"<br><span class='crit'>{e(c.name)} {_num(c.value)}"
        + (f" ({e(c.op or '')} {_num(c.threshold)})" if c.threshold is not None else "")
        + "</span>"
        for c in fig.criteria
    )
    return verdict + crits


def render_html(board: Leaderboard) -> str:
    from harness.bench.report import PAGE_CSS  # the compare report's look

    e = html.escape
    n_rows = sum(len(r) for r in board.models.values())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>harness leaderboard</title>",
        f"<style>{PAGE_CSS}{_CSS_EXTRA}</style></head><body><h1>harness leaderboard</h1>",
        f"<p>{len(board.files)} result files read from <code>{e(board.source)}</code>, {n_rows} machine rows; "
        f"{len(board.skipped)} files skipped (listed below). One table per model: scores of different models are not comparable. "
        "A row is one machine (CPU model, logical cores, RAM, GPUs) with one backend build (llama.cpp version and "
        "compiled CPU features) on one device.</p>",
        f"<p class='formula'>{e(FORMULA)} Rows without a throughput cell have no score and are listed last, with "
        "their lab figures.</p>",
    ]
    if board.local:
        parts.append(
            f"<p>Marks are relative to the machine that rendered this page ({e(board.local.label())}): "
            f"{e(SIMILARITY_RULE)}.</p>"
        )
    for model, rows in board.models.items():
        labs = list(dict.fromkeys(lab for r in rows for lab in r.labs))
        tests = next(
            (r.throughput[0] for r in rows if r.throughput), {"pp_test": "pp", "tg_test": "tg", "ttft_pair": "?"}
        )
        parts.append(
            f"<h2>{e(model)}</h2><table><tr><th>#</th><th>score</th><th>{e(tests['pp_test'])} tok/s</th>"
            f"<th>{e(tests['tg_test'])} tok/s</th><th>TTFT s ({e(tests['ttft_pair'])})</th><th>machine</th>"
            "<th>backend · build</th><th>device</th>"
            + "".join(f"<th>{e(lab)}</th>" for lab in labs)
            + "<th>files</th></tr>"
        )
        for r in rows:
            cls = {4: " class='like'", 3: " class='close'"}.get(r.similarity or 0, "")
            mark = f"<br><span class='mark'>{e(r.mark)}</span>" if r.mark else ""
            failed = f"<br><span class='fail'>failed: {e(', '.join(r.failed))}</span>" if r.failed else ""
            own = r.throughput[0] if r.throughput else tests
            other_tests = (
                ""
                if all(own[k] == tests[k] for k in TEST_KEYS)
                # other test sizes than the header's
                else f"<br><small>{e(own['pp_test'])}, {e(own['tg_test'])}, TTFT {e(own['ttft_pair'])}</small>"
            )
            parts.append(
                f"<tr{cls}><td>{r.rank or '-'}</td><td><b>{_num(r.score)}</b>{other_tests}</td><td>{_num(r.figure('pp_tok_s'))}</td>"
                f"<td>{_num(r.figure('tg_tok_s'))}</td><td>{_num(r.figure('ttft_s'))}</td>"
                f"<td class='machine'>{e(r.machine.label())}{mark}</td><td class='machine'>{e(r.build)}{failed}</td>"
                f"<td>{e(r.device or '-')}</td>"
                + "".join(f"<td class='lab'>{_lab_cell(r.labs[lab][1]) if lab in r.labs else '-'}</td>" for lab in labs)
                + f"<td class='machine'>{'<br>'.join(e(f) for f in r.files)}</td></tr>"
            )
        parts.append("</table>")
    if board.skipped:
        parts.append(
            "<h2>Skipped files</h2><table><tr><th>file</th><th>why</th></tr>"
            + "".join(f"<tr><td>{e(f)}</td><td class='lab'>{e(why)}</td></tr>" for f, why in board.skipped)
            + "</table>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def to_rich(board: Leaderboard):
    from rich.markup import escape
    from rich.table import Table

    tables = []
    for model, rows in board.models.items():
        t = Table(title=f"leaderboard · {escape(model)}")
        for col in (
            "#",
            "score",
            "pp tok/s",
            "tg tok/s",
            "TTFT s",
            "machine",
            "backend · build",
            "device",
            "labs passed",
        ):
            t.add_column(col, justify="right" if col in ("#", "score", "pp tok/s", "tg tok/s", "TTFT s") else "left")
        for r in rows:
            passed = [fig.passed if fig else False for _, fig in r.labs.values()]
            labs = f"{sum(p is True for p in passed)}/{len(passed)}" if passed else "-"
            mark = f" [green]({escape(r.mark)})[/]" if r.mark else ""
            t.add_row(
                str(r.rank or "-"),
                _num(r.score),
                _num(r.figure("pp_tok_s")),
                _num(r.figure("tg_tok_s")),
                _num(r.figure("ttft_s")),
                escape(r.machine.label()) + mark,
                escape(r.build),
                escape(r.device or "-"),
                labs,
            )
        tables.append(t)
    return tables
