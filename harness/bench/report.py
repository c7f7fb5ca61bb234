"""`harness compare --html`: one self-contained page (tables + matplotlib PNGs embedded as base64),
with the accuracy-vs-speed frontier per lab (harness/bench/frontier_report.py).

Every string that comes from a result file goes through html.escape: model names, lab ids and
error messages are user-controlled and files are shared publicly.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from harness.bench.compare import LEGEND, Comparison, center, fmt_ratio, fmt_stat
from harness.bench.schema import ResultFile

PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,td:nth-child(2),th{text-align:left}
.better{color:#087f23;font-weight:bold}.worse{color:#b00020;font-weight:bold}.differs{color:#8e24aa;font-weight:bold}.host{color:#a66f00}
.finding{background:#fff3cd;padding:6px;border-left:4px solid #f0ad4e}
img{max-width:100%;border:1px solid #eee;margin:1em 0}
"""


def _mpl_text(text: str) -> str:
    return text.replace("$", r"\$")  # matplotlib would read $...$ as math


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _decode_plot(results: list[ResultFile], names: list[str]) -> str | None:
    import matplotlib.pyplot as plt

    labels, values, errs = [], [], []
    for name, res in zip(names, results):
        for run in res.runs:
            if run.throughput and run.throughput.tg_tok_s.n:
                labels.append(_mpl_text(f"{Path(name).name}\n{run.cell.model} / {run.device_used or run.cell.device}"))
                values.append(center(run.throughput.tg_tok_s) or 0.0)  # n > 0: never None
                errs.append(run.throughput.tg_tok_s.stddev or 0.0)
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(values)), 3.6))
    ax.bar(range(len(values)), values, yerr=errs, capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(values)), labels, fontsize=8)
    ax.set_ylabel("decode tok/s (tg)")
    ax.set_title("Decode speed per model / device (mean ± stddev)")
    return _png(fig)


def _throughput_line_plot(
    results: list[ResultFile],
    names: list[str],
    points,
    *,
    min_points: int,
    xlabel: str,
    ylabel: str,
    title: str,
    from_zero: bool = False,
) -> str | None:
    """One line per throughput cell: points(ThroughputResult) -> [(x, Stat)]; None when nothing to draw."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    drawn = False
    for name, res in zip(names, results):
        for run in res.runs:
            pts = sorted(
                (x, c) for x, s in (points(run.throughput) if run.throughput else []) if (c := center(s)) is not None
            )
            if len(pts) >= min_points:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    marker="o",
                    label=_mpl_text(f"{Path(name).name}: {run.cell.model}/{run.device_used or run.cell.device}"),
                )
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if from_zero:
        ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _png(fig)


def _ttft_plot(results: list[ResultFile], names: list[str]) -> str | None:
    return _throughput_line_plot(
        results,
        names,
        lambda tp: [(p.n_prompt, p.ttft_s) for p in tp.pairs],
        min_points=1,
        xlabel="prompt tokens",
        ylabel="time to first token (s)",
        title="TTFT by prompt length",
    )


def _depth_plot(results: list[ResultFile], names: list[str]) -> str | None:
    """Decode tok/s against the tokens already in the KV cache (bench --depths)."""
    return _throughput_line_plot(
        results,
        names,
        lambda tp: [(d.depth, d.decode_tok_s) for d in tp.depths],
        min_points=2,
        xlabel="tokens already in the KV cache (depth)",
        ylabel="decode tok/s",
        title="Decode speed by context depth",
        from_zero=True,
    )


def _prompt_cache_table(results: list[ResultFile], names: list[str]) -> str | None:
    """Per lab cell that had both: the median TTFT of prompts evaluated cold and of prompts that
    reused a cached prefix (harness/backends/llama_cpp.py records them per call)."""
    e = html.escape
    rows = []
    for name, res in zip(names, results):
        for run in res.runs:
            lat = run.lab.latency if run.lab else {}
            cold, cached = lat.get("ttft_cold_p50_s"), lat.get("ttft_cached_p50_s")
            cold_s, cached_s = (center(cold) if cold else None), (center(cached) if cached else None)
            if cold_s is None or not cached_s:
                continue
            c = run.cell
            rows.append(
                f"<tr><td>{e(Path(name).name)}</td><td>{e(f'{c.lab} · {c.model} · {c.backend} · {c.device}')}</td>"
                f"<td>{e(fmt_stat(cold))}</td><td>{e(fmt_stat(cached))}</td><td>{cold_s / cached_s:.1f}x</td></tr>"
            )
    if not rows:
        return None
    return (
        "<table><tr><th>file</th><th>cell</th><th>TTFT p50, cold prompts</th><th>TTFT p50, cached prefix</th>"
        "<th>cold/cached</th></tr>" + "".join(rows) + "</table>"
    )


def render_html(cmp: Comparison, results: list[ResultFile]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>harness compare</title>",
        f"<style>{PAGE_CSS}</style></head><body><h1>harness compare</h1>",
        "<h2>Files</h2><table><tr><th>#</th><th>file</th><th>system</th><th>created</th><th>harness</th></tr>",
    ]
    for i, (f, sysl, res) in enumerate(zip(cmp.files, cmp.systems, results), 1):
        parts.append(
            f"<tr><td>{i}</td><td>{e(Path(f).name)}</td><td>{e(sysl)}</td><td>{e(res.created_at)}</td><td>{e(res.harness_version)}</td></tr>"
        )
    parts.append("</table>")
    if cmp.verdicts:
        parts.append(
            "<h2>Comparable?</h2>"
            + "".join(
                f"<p class='{'finding' if not v.comparable else ''}'>{e(line)}</p>"
                for line, v in zip(cmp.verdict_lines(), cmp.verdicts)
            )
        )
    if cmp.findings:
        parts.append("<h2>Findings</h2>" + "".join(f"<p class='finding'>{e(x)}</p>" for x in cmp.findings))
    if cmp.notes:
        parts.append("<h2>Notes</h2>" + "".join(f"<p>{e(x)}</p>" for x in cmp.notes))
    from harness.bench.frontier import frontiers
    from harness.bench.frontier_report import to_html as frontier_html

    lab_frontiers = frontiers(results, cmp.files)
    if lab_frontiers:
        parts.append(frontier_html(lab_frontiers))
    for title, png in (
        ("Decode tok/s per model and device", _decode_plot(results, cmp.files)),
        ("Time to first token by prompt length", _ttft_plot(results, cmp.files)),
        ("Decode speed by context depth", _depth_plot(results, cmp.files)),
    ):
        if png:
            parts.append(f"<h2>{e(title)}</h2><img alt='{e(title, quote=True)}' src='data:image/png;base64,{png}'>")
    cache_table = _prompt_cache_table(results, cmp.files)
    if cache_table:
        parts.append("<h2>Time to first token: cold prompts vs a cached prefix</h2>" + cache_table)
    parts.append(
        "<h2>Side by side</h2><p>Ratios are to file 1. " + e(LEGEND) + "</p><table><tr><th>cell</th><th>metric</th>"
    )
    for i, f in enumerate(cmp.files):
        parts.append(f"<th>{e(Path(f).name)}</th>" + (f"<th>{i + 1}/1</th>" if i else ""))
    parts.append("</tr>")
    for r in cmp.rows:
        tds = [f"<td>{e(r.cell)}</td><td>{e(r.metric)}</td>"]
        for i, s in enumerate(r.stats):
            tds.append(f"<td>{e(fmt_stat(s))}</td>")
            if i:
                cls = f" class='{r.marks[i]}'" if r.marks[i] else ""
                tds.append(f"<td{cls}>{e(fmt_ratio(r.ratios[i], r.marks[i]))}</td>")
        parts.append("<tr>" + "".join(tds) + "</tr>")
    parts.append("</table>")
    errors = [(f, run) for f, res in zip(cmp.files, results) for run in res.runs if run.status != "ok"]
    if errors:
        parts.append("<h2>Cells that failed</h2><ul>")
        parts += [
            f"<li>{e(Path(f).name)}: {e(run.cell.lab)} / {e(run.cell.model)}: <pre>{e(run.error or '')}</pre></li>"
            for f, run in errors
        ]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
