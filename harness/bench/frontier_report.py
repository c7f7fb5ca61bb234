"""The frontier (harness/bench/frontier.py) for people: terminal tables, Markdown, and matplotlib plots
for the compare HTML report. Strings from result files are escaped for each medium (rich markup,
Markdown/HTML, matplotlib's $...$ math)."""

from __future__ import annotations

import html

from harness.bench.frontier import LabFrontier, Point, ms_text


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _pareto_mark(p: Point) -> str:
    marks = [name for name, flag in (("latency", p.pareto_latency), ("decode", p.pareto_decode)) if flag]
    return ", ".join(marks) or ("dominated" if p.pareto_latency is False or p.pareto_decode is False else "-")


def _row(p: Point, f: LabFrontier) -> list[str]:
    n = f"{len(p.outcomes)}" if p.outcomes else "-"
    rec = "recommended" if p is f.recommended else ("most accurate" if p is f.best else "")
    return [
        p.label,
        _fmt(p.accuracy, ".3g"),
        n,
        ms_text(p.latency_s) if p.latency_s is not None else "-",
        _fmt(p.decode_tok_s, ".1f") + (" (tp)" if p.decode_source == "throughput cell" else ""),
        _pareto_mark(p),
        rec,
    ]


HEAD = ["configuration", "accuracy", "items", "item p50 ms", "decode tok/s", "Pareto-optimal vs", ""]
DECODE_NOTE = (
    "(tp): tg tok/s of the throughput cell with the same model, backend, device and threads, in the same "
    "file or one from the same machine"
)


def recommendation_lines(frontiers: list[LabFrontier]) -> list[str]:
    return [f"{f.lab}: recommend {f.reason}" if f.recommended else f.reason for f in frontiers]


def to_rich(frontiers: list[LabFrontier]) -> list:
    """Renderables: per lab a table of its points, then its recommendation and notes."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    out: list = []
    for f in frontiers:
        table = Table(title=escape(f"frontier · {f.lab} ({f.figure or 'no accuracy figure'})"), title_justify="left")
        for i, h in enumerate(HEAD):
            table.add_column(h, justify="left" if i in (0, 5, 6) else "right")
        for p in f.points:
            table.add_row(
                *(escape(c) for c in _row(p, f)), style=None if p.pareto_latency or p.pareto_decode else "dim"
            )
        out.append(table)
        out.append(
            Text(
                f"{f.lab}: recommend {f.reason}" if f.recommended else f.reason,
                style="bold green" if f.recommended else "yellow",
            )
        )
        out += [Text(f"  note: {n}", style="yellow") for n in f.notes]
        out += [Text(f"  {t.label}: {t.note}", style="dim") for t in f.tests if not t.paired]
    if any(p.decode_source == "throughput cell" for f in frontiers for p in f.points):
        out.append(Text(DECODE_NOTE, style="dim"))
    return out


def to_markdown(frontiers: list[LabFrontier]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

    parts = []
    for f in frontiers:
        parts.append(f"### Frontier · {esc(f.lab)} ({esc(f.figure or 'no accuracy figure')})\n")
        parts.append("| " + " | ".join(HEAD) + " |\n|" + "---|" * len(HEAD))
        parts += ["| " + " | ".join(esc(c) for c in _row(p, f)) + " |" for p in f.points]
        parts.append("\n**" + esc(f"recommend {f.reason}" if f.recommended else f.reason) + "**\n")
        parts += [f"- note: {esc(n)}" for n in f.notes]
        parts += [f"- {esc(t.label)}: {esc(t.note)}" for t in f.tests if not t.paired]
        parts.append("")
    if any(p.decode_source == "throughput cell" for f in frontiers for p in f.points):
        parts.append(DECODE_NOTE + "\n")
    return "\n".join(parts)


def _mpl_text(text: str) -> str:
    return text.replace("$", r"\$")  # matplotlib would read $...$ as math


def _axis(ax, points: list[Point], x_of, flag_of, xlabel: str, lower_better: bool, chosen: Point | None) -> bool:
    """Pareto points in colour, joined in order of x; dominated ones grey; every point labelled; the
    recommended one starred."""
    drawn = [(x_of(p), p.accuracy, p) for p in points if x_of(p) is not None and p.accuracy is not None]
    if not drawn:
        ax.set_visible(False)
        return False
    front = sorted((d for d in drawn if flag_of(d[2])), key=lambda d: d[0])
    rest = [d for d in drawn if not flag_of(d[2])]
    if rest:
        ax.scatter([d[0] for d in rest], [d[1] for d in rest], color="#b0b0b0", label="dominated", zorder=2)
    ax.plot([d[0] for d in front], [d[1] for d in front], "-o", color="#1f77b4", label="Pareto-optimal", zorder=3)
    star = [d for d in drawn if d[2] is chosen]
    if star:
        ax.scatter([star[0][0]], [star[0][1]], marker="*", s=220, color="#2ca02c", label="recommended", zorder=4)
    ax.margins(x=0.2, y=0.15)  # room for the labels
    for x, y, p in drawn:
        ax.annotate(
            _mpl_text(p.label),
            (x, y),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
            color="#222" if flag_of(p) else "#888",
        )
    ax.set_xlabel(xlabel + (" (lower is better)" if lower_better else " (higher is better)"))
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return True


def frontier_plot_png(f: LabFrontier) -> str | None:
    """One figure per lab: accuracy vs per-item latency, and vs decode tok/s; base64 PNG, None when empty."""
    import matplotlib.pyplot as plt

    from harness.bench.report import _png

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    a = _axis(
        left,
        f.points,
        lambda p: p.latency_s and p.latency_s * 1000,
        lambda p: p.pareto_latency,
        "per-item latency p50, ms",
        lower_better=True,
        chosen=f.recommended,
    )
    b = _axis(
        right,
        f.points,
        lambda p: p.decode_tok_s,
        lambda p: p.pareto_decode,
        "decode tok/s",
        lower_better=False,
        chosen=f.recommended,
    )
    if not (a or b):
        plt.close(fig)
        return None
    if not b:  # an embedding lab: nothing decodes
        right.set_visible(True)
        right.axis("off")
        right.text(0.5, 0.5, "no decode speed: no chat model in this lab", ha="center", va="center", color="#888")
    fig.suptitle(_mpl_text(f"{f.lab}: {f.figure or 'accuracy'} vs speed"))
    fig.tight_layout()
    return _png(fig)


def to_html(frontiers: list[LabFrontier]) -> str:
    """The report's frontier section: per lab its plot, table and recommendation (every string escaped)."""
    e = html.escape
    parts = ["<h2>Accuracy vs speed: the frontier</h2>"]
    for f in frontiers:
        parts.append(f"<h3>{e(f.lab)} ({e(f.figure or 'no accuracy figure')})</h3>")
        png = frontier_plot_png(f)
        if png:
            parts.append(f"<img alt='{e(f'frontier of {f.lab}', quote=True)}' src='data:image/png;base64,{png}'>")
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEAD) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in _row(p, f)) + "</tr>" for p in f.points]
        parts.append("</table>")
        parts.append(
            f"<p class='{'finding' if f.recommended else ''}'><b>{e(f'recommend {f.reason}' if f.recommended else f.reason)}</b></p>"
        )
        parts += [f"<p>note: {e(n)}</p>" for n in f.notes]
        parts += [f"<p>{e(t.label)}: {e(t.note)}</p>" for t in f.tests if not t.paired]
    if any(p.decode_source == "throughput cell" for f in frontiers for p in f.points):
        parts.append(f"<p>{e(DECODE_NOTE)}</p>")
    return "".join(parts)
