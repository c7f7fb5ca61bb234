"""`harness bench`, `harness compare`, `harness merge`. Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import (
    BackendsOpt,
    BaseUrlsOpt,
    DevicesOpt,
    EmbedBackendOpt,
    JsonOpt,
    LimitOpt,
    PrefixCacheOpt,
    SeedOpt,
    ThreadCountsOpt,
    apply_prefix_cache,
    emit_json,
    err_console,
    on_interrupt,
    out_console,
)


def bench_cmd(
    labs: list[str] = typer.Option(
        ..., "--labs", metavar="LAB[,LAB]", help="Lab ids (repeatable or comma-separated), 'throughput', or 'all'."
    ),
    model: list[str] = typer.Option(["smollm2-135m"], "--model", metavar="NAME", help="Model lock name (repeatable)."),
    backend: list[str] = BackendsOpt,
    embed_backend: str | None = EmbedBackendOpt,
    base_url: list[str] = BaseUrlsOpt,
    device: list[str] = DevicesOpt,
    repetitions: int = typer.Option(3, "--repetitions", min=1, help="Measured repetitions of each throughput test."),
    warmup: int = typer.Option(
        1, "--warmup", min=0, help="Unmeasured warm-up runs before the repetitions (first-call effects, page faults)."
    ),
    lab_repetitions: int = typer.Option(
        1,
        "--lab-repetitions",
        min=1,
        help="Graded runs of each lab (accuracy is deterministic at temperature 0; the latency spread comes from the items within a run).",
    ),
    limit: int | None = LimitOpt,
    seed: int = SeedOpt,
    threads: list[str] = ThreadCountsOpt,
    embed_quant: list[str] = typer.Option(
        [],
        "--embed-quant",
        metavar="TYPE[,TYPE]",
        help="The embedding model's quantisations for labs with one, e.g. F16,Q8_0,Q4_0 (F16: the pinned file; others made with llama.cpp's quantiser; llama-cpp embeddings only).",
    ),
    pp: int = typer.Option(512, "--pp", min=1, help="Prompt tokens of the prefill test (pp512 by default)."),
    tg: int = typer.Option(128, "--tg", min=1, help="Generated tokens of the decode test (tg128 by default)."),
    pairs: str = typer.Option(
        "64:128,512:128,1024:32",
        "--pairs",
        metavar="P:G,...",
        help="LocalScore-like PROMPT:GEN pairs, timed with TTFT.",
    ),
    depths: str = typer.Option(
        "0",
        "--depths",
        metavar="D,...",
        help="Tokens already in the KV cache before a streamed, per-token timed generation (llama-bench -d), e.g. 0,512,1024,2048,4096: decode tok/s and ITL p50/p95/p99 per depth.",
    ),
    depth_gen: int = typer.Option(32, "--depth-gen", min=2, help="Tokens generated at each depth."),
    trace: bool = typer.Option(
        False, "--trace", help="Keep every streamed token's time in the result file (else only the summary)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Result JSON to write."),
    shard: str | None = typer.Option(
        None,
        "--shard",
        metavar="i/n",
        help='Run only the i-th of n shares of the matrix (docs/benchmarks.md, "Sharding").',
    ),
    include_host: bool = typer.Option(
        False, "--include-host", help="Record host name, user and home path (off: files are meant to be shared)."
    ),
    host_probe: bool = typer.Option(
        True,
        "--host-probe/--no-host-probe",
        help='Time a short fixed decode before and after each cell, so compare can tell host drift from a real difference (docs/benchmarks.md, "Host drift").',
    ),
    prefix_cache: bool = PrefixCacheOpt,
    recommend: bool = typer.Option(
        False,
        "--recommend",
        help="At the end, print per lab the accuracy-vs-speed frontier and the configuration to run (also `harness compare --recommend`).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Run labs x models x backends x devices (x threads, x embedding quantisations when given) and write one result file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.backends.http_common import export_base_urls
    from harness.bench.io import write_result
    from harness.bench.matrix import dimensions_text, expand, parse_shard, shard_cells
    from harness.bench.runner import BenchOptions, matrix_spec, resolve_labs, run_bench
    from harness.bench.throughput import parse_depths, parse_pairs

    export_base_urls(backend, base_url)  # the cells' child processes inherit it
    apply_prefix_cache(prefix_cache)  # lab cells only: the throughput cell is always cold
    from harness.bench.embed_quant import parse_quants

    thread_counts = _parse_threads(threads)
    opts = BenchOptions(
        labs=resolve_labs(labs),
        models=model,
        backends=backend,
        devices=device,
        repetitions=repetitions,
        warmup=warmup,
        lab_repetitions=lab_repetitions,
        limit=limit,
        seed=seed,
        threads=thread_counts[0] if len(thread_counts) == 1 else None,
        thread_counts=tuple(thread_counts) if len(thread_counts) > 1 else (),
        embed_quants=tuple(parse_quants(embed_quant)),
        shard=parse_shard(shard) if shard else None,
        include_host=include_host,
        pp=pp,
        tg=tg,
        pairs=parse_pairs(pairs),
        host_probe=host_probe,
        depths=parse_depths(depths),
        depth_gen=depth_gen,
        trace=trace,
        embed_backend=embed_backend,
    )
    n_cells = len(shard_cells(expand(matrix_spec(opts)), opts.shard))
    con = out_console(as_json)
    with Progress(
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=con,
        transient=as_json,
    ) as progress:
        task = progress.add_task("measuring memory bandwidth", total=n_cells)
        on_interrupt(f"bench stopped before its first cell (of {n_cells}); no result file was written")

        def on_cell(i: int, n: int, cell, phase: str) -> None:
            from rich.markup import escape

            label = escape(f"{cell.lab} · {cell.model} · {cell.backend} · {cell.device}{dimensions_text(cell)}")
            if phase == "start":
                done = f"after cell {i} of {n}" if i else f"in its first cell of {n}"
                on_interrupt(
                    f"bench stopped {done} (cell {i + 1}, {cell.lab} on {cell.model}, was ended with its "
                    f"processes); no result file was written"
                )
                progress.update(task, description=label)
            else:
                progress.advance(task)
                if phase != "ok":
                    progress.console.print(f"[red]failed[/] {label}")

        result = run_bench(opts, on_cell)
    on_interrupt(None)
    write_result(output, result)
    failed = [r for r in result.runs if r.status != "ok"]
    lab_frontiers = None
    if recommend:
        from harness.bench.frontier import frontiers

        lab_frontiers = frontiers([result], [str(output)])
    if as_json:
        emit_json(
            {
                "output": str(output),
                "cells": len(result.runs),
                "failed": len(failed),
                "result": result.model_dump(mode="json"),
            }
            | ({"frontier": [f.to_dict() for f in lab_frontiers]} if lab_frontiers is not None else {})
        )
    else:
        _print_summary(con, result)
        con.print(f"wrote {output} ({len(result.runs)} cells, {len(failed)} failed)", highlight=False)
        if lab_frontiers is not None:
            _print_frontiers(con, lab_frontiers)
    if failed:
        raise typer.Exit(2)


def _parse_threads(values: list[str]) -> list[int]:
    from harness.errors import HarnessError

    out = []
    for v in (x.strip() for text in values for x in text.split(",")):
        if not v:
            continue
        if not v.isdigit() or int(v) < 1:
            raise HarnessError(
                f"--threads {v!r} is not a whole number of at least 1",
                "write e.g. --threads 2, or --threads 1,2 for both",
            )
        out.append(int(v))
    return list(dict.fromkeys(out))


def _print_frontiers(con, lab_frontiers) -> None:
    from harness.bench.frontier_report import to_rich

    if not lab_frontiers:
        con.print("no lab cells: no frontier to draw (throughput alone has no accuracy)", highlight=False)
    for renderable in to_rich(lab_frontiers):
        con.print(renderable, highlight=False)


def _rate(s) -> str:
    """mean ± stddev tok/s; "n/a" where the backend could not measure it (a server that reports no
    prompt token counts has no prefill rate)."""
    if s.mean is None:
        return "n/a (not measurable on this backend)"
    return f"{s.mean:.1f} ± {s.stddev or 0.0:.1f} tok/s"


def _print_summary(con, result) -> None:
    from rich.markup import escape

    from harness.bench.matrix import dimensions_text

    for run in result.runs:
        c = run.cell
        label = escape(f"{c.lab} · {c.model} · {c.backend} · {run.device_used or c.device}{dimensions_text(c)}")
        if run.status != "ok":
            con.print(f"[red]✗[/] {label}: {escape(run.error or '')}")
        elif run.throughput:
            tp = run.throughput
            con.print(
                f"[green]✓[/] {label}: pp{tp.pp_tokens} {_rate(tp.pp_tok_s)}, tg{tp.tg_tokens} {_rate(tp.tg_tok_s)}"
                + (f", decode efficiency {run.decode_efficiency:.2f}" if run.decode_efficiency is not None else ""),
                highlight=False,
            )
            if tp.energy and tp.energy.sources:
                en = tp.energy
                figures = [
                    f"tg {en.tg_j_per_token:.3g} J/token" if en.tg_j_per_token else None,
                    f"{en.tg_tok_per_s_per_w:.3g} tok/s per W" if en.tg_tok_per_s_per_w else None,
                    f"{en.tg_mean_w:.3g} W mean" if en.tg_mean_w else None,
                    f"pp {en.pp_j_per_token:.3g} J/token" if en.pp_j_per_token else None,
                ]
                con.print(
                    f"    energy ({', '.join(en.sources)}): {', '.join(f for f in figures if f) or 'no figure'}",
                    highlight=False,
                )
            elif tp.energy and tp.energy.note:
                con.print(f"    {escape(tp.energy.note)}", highlight=False)
            for d in tp.depths:
                q = d.itl_ms
                itl = (
                    f"ITL p50/p95/p99 {q.p50:.1f}/{q.p95:.1f}/{q.p99:.1f} ms" if q.n else "no ITL (fewer than 2 tokens)"
                )
                con.print(f"    depth {d.depth}: decode {_rate(d.decode_tok_s)}, {itl}", highlight=False)
        elif run.lab:
            crit = ", ".join(f"{escape(c.name)}={c.value:.3g}" for c in run.lab.criteria if c.value is not None)
            con.print(
                f"[green]✓[/] {label}: {'passed' if run.lab.passed else 'not passed'} {crit} ({run.wall_s:.0f} s)",
                highlight=False,
            )
    probes = [r.host_probe.mean for r in result.runs if r.host_probe and r.host_probe.mean]
    if probes:
        drift = max(probes) / min(probes) - 1
        con.print(
            f"host probe: {min(probes):.1f}-{max(probes):.1f} tok/s around the {len(probes)} cells "
            f"({drift:.0%} apart{': the machine drifted during this run' if drift > 0.10 else ''})",
            highlight=False,
        )
    for system in result.systems.values():
        if system.host_probe_note:
            con.print(
                f"[yellow]{escape(system.host_probe_note)}[/]: harness compare cannot tell host drift in this file",
                highlight=False,
            )


def compare_cmd(
    files: list[Path] = typer.Argument(..., help="Result files; ratios are to the first."),
    markdown: bool = typer.Option(False, "--markdown", help="A Markdown table (for issues and READMEs)."),
    html_out: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML report here."),
    by_backend: bool = typer.Option(
        False,
        "--by-backend",
        help="One column per backend of each file (e.g. one `bench --backend A --backend B` file).",
    ),
    recommend: bool = typer.Option(
        False,
        "--recommend",
        help="Per lab: the accuracy-vs-speed frontier over all files and the configuration to run (paired McNemar test).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Compare result files side by side: ratios, and marks where a difference exceeds the noise."""
    from harness.atomic import atomic_write_text
    from harness.bench.compare import compare, split_by_backend, to_markdown, to_rich
    from harness.bench.io import read_result

    results = [read_result(f) for f in files]
    names = [str(f) for f in files]
    if by_backend:
        results, names = split_by_backend(results, names)
    cmp = compare(results, names)
    if html_out:
        from harness.bench.report import render_html

        atomic_write_text(html_out, render_html(cmp, results))
    lab_frontiers = None
    if recommend:
        from harness.bench.frontier import frontiers

        lab_frontiers = frontiers(results, names)
    if as_json:
        emit_json(
            cmp.to_dict()
            | ({"html": str(html_out)} if html_out else {})
            | ({"frontier": [f.to_dict() for f in lab_frontiers]} if lab_frontiers is not None else {})
        )
        return
    con = out_console(False)
    if markdown:
        typer.echo(to_markdown(cmp))
        if lab_frontiers is not None:
            from harness.bench.frontier_report import to_markdown as frontier_markdown

            typer.echo(frontier_markdown(lab_frontiers))
    else:
        from rich.markup import escape

        from harness.bench.compare import LEGEND

        for line, v in zip(cmp.verdict_lines(), cmp.verdicts):
            style = "bold red" if not v.comparable else ("yellow" if v.same_answers is False else "green")
            con.print(f"[{style}]{escape(line)}[/]", highlight=False, soft_wrap=True)  # one verdict, one line
        con.print(to_rich(cmp))
        con.print(LEGEND, highlight=False)
        for f, s in zip(cmp.files, cmp.systems):
            con.print(f"  {escape(Path(f).name)}: {escape(s)}", highlight=False)
        for finding in cmp.findings:
            con.print(f"[bold magenta]finding:[/] {escape(finding)}", highlight=False)
        for note in cmp.notes:
            con.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        if lab_frontiers is not None:
            _print_frontiers(con, lab_frontiers)
    if html_out:
        err_console.print(f"wrote {html_out}", highlight=False)


def merge_cmd(
    files: list[Path] = typer.Argument(..., help="Shard result files of one matrix."),
    output: Path = typer.Option(..., "-o", "--output", help="Merged result JSON to write."),
    as_json: bool = JsonOpt,
) -> None:
    """Combine the shards of one bench matrix (same harness and schema version) into one file."""
    from harness.bench.io import write_result
    from harness.bench.merge import merge_files

    merged, warnings = merge_files(list(files))
    write_result(output, merged)
    if as_json:
        emit_json({"output": str(output), "cells": len(merged.runs), "warnings": warnings})
        return
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
    out_console(False).print(f"wrote {output} ({len(merged.runs)} cells from {len(files)} files)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
    app.command("compare")(compare_cmd)
    app.command("merge")(merge_cmd)
