"""`harness bench`: run the matrix cell by cell (each in its own process) and assemble the result file."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.bench import bandwidth as bw
from harness.bench.comparability import group_key
from harness.bench.matrix import THROUGHPUT, expand, shard_cells
from harness.bench.messages import CellReply, CellRequest
from harness.bench.probe import HostProbe, open_probe
from harness.bench.schema import (
    Bandwidth,
    Cell,
    EmbedModel,
    LabFigures,
    MatrixSpec,
    ResultFile,
    RunResult,
    Settings,
    Shard,
    Stat,
)
from harness.bench.stats import summarize
from harness.bench.system import collect, private_strings, scrub, system_key
from harness.bench.throughput import DEFAULT_DEPTH_GEN, DEFAULT_DEPTHS, DEFAULT_PAIRS
from harness.child_process import run_child_process, signal_death
from harness.errors import HarnessError


@dataclass
class BenchOptions:
    labs: list[str]
    models: list[str]
    backends: list[str] = field(default_factory=lambda: ["llama-cpp"])
    devices: list[str] = field(default_factory=lambda: ["auto"])
    repetitions: int = 3
    warmup: int = 1
    lab_repetitions: int = 1
    limit: int | None = None
    seed: int = 0
    threads: int | None = None  # one thread count (or the backend's default): not a dimension
    thread_counts: tuple[int, ...] = ()  # two or more: a matrix dimension (Cell.threads)
    embed_quants: tuple[str, ...] = ()  # the embedding model's quantisations (harness/bench/embed_quant.py)
    shard: Shard | None = None
    include_host: bool = False
    pp: int = 512
    tg: int = 128
    pairs: tuple[tuple[int, int], ...] = DEFAULT_PAIRS
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    depth_gen: int = DEFAULT_DEPTH_GEN
    trace: bool = False
    embed_backend: str | None = None  # a lab's embedding model: harness.backends.registry.embed_backend_for
    cell_timeout_s: float = 3600.0
    measure_bandwidth: bool = True
    host_probe: bool = True


def resolve_labs(requested: list[str]) -> list[str]:
    """`all` = throughput + every lab in the curriculum order; unknown ids fail before anything runs."""
    from harness.labs.spec import discover

    known = [spec.id for spec in discover()]
    out: list[str] = []
    for item in (x.strip() for r in requested for x in r.split(",")):
        if not item:
            continue
        if item == "all":
            out += [THROUGHPUT, *known]
        elif item == THROUGHPUT or item in known:
            out.append(item)
        else:
            raise HarnessError(
                f"unknown lab {item!r}",
                f"choose from: {', '.join([THROUGHPUT, *known])}, or 'all'",
            )
    return list(dict.fromkeys(out))


def _model_facts(model: str) -> tuple[str | None, int | None]:
    try:
        from harness.models.lock import get_entry

        entry = get_entry(model)
        return entry.sha256 or None, entry.size
    except Exception:  # not a lock name (e.g. an Ollama tag): the file is not ours to describe
        return None, None


def _cell_threads(cell: Cell, opts: BenchOptions) -> int | None:
    return cell.threads if cell.threads is not None else opts.threads


def embedding_labs(labs: list[str]) -> dict[str, str]:
    """lab id -> its embedding model (lab.toml [models] embedding), for the labs that have one."""
    from harness.labs.spec import get_lab

    out = {}
    for lab in labs:
        if lab != THROUGHPUT:
            emb = get_lab(lab).models.embedding
            if emb:
                out[lab] = emb
    return out


def matrix_spec(opts: BenchOptions) -> MatrixSpec:
    quant_labs = list(embedding_labs(opts.labs)) if opts.embed_quants else []
    return MatrixSpec(
        labs=opts.labs,
        models=opts.models,
        backends=opts.backends,
        devices=opts.devices,
        threads=list(opts.thread_counts) if len(set(opts.thread_counts)) > 1 else [],
        embed_quants=list(opts.embed_quants),
        embed_quant_labs=quant_labs,
    )


def _embed_files(opts: BenchOptions, cells: list[Cell]) -> dict[tuple[str, str], tuple[Path, EmbedModel]]:
    """Each (embedding model, quantisation) the cells need, made or reused before any cell runs."""
    from harness.backends.registry import embed_backend_for
    from harness.bench.embed_quant import check_quant_names, ensure_embed_model

    if not opts.embed_quants:
        return {}
    for backend in opts.backends:
        if embed_backend_for(backend, opts.embed_backend) != "llama-cpp":
            raise HarnessError(
                f"--embed-quant quantises the embedding model for llama.cpp, but the embeddings go to "
                f"{embed_backend_for(backend, opts.embed_backend)!r}",
                "leave out --embed-quant, or run the embeddings in-process (--embed-backend llama-cpp)",
            )
    check_quant_names(list(opts.embed_quants))
    models = embedding_labs(opts.labs)
    wanted = dict.fromkeys((models[c.lab], c.embed_quant) for c in cells if c.embed_quant and c.lab in models)
    return {key: ensure_embed_model(*key) for key in wanted}


def _embeds_in_process(cell: Cell, opts: BenchOptions) -> bool:
    from harness.backends.registry import embed_backend_for

    return embed_backend_for(cell.backend, opts.embed_backend) == "llama-cpp"


def _pinned_embed_model(name: str) -> EmbedModel | None:
    try:
        from harness.models.lock import get_entry

        entry = get_entry(name)
    except Exception:
        return None
    return (
        EmbedModel(name=name, quant=(entry.quant or "?").upper(), sha256=entry.sha256, bytes=entry.size)
        if entry.sha256
        else None
    )


def _run_cell(cell: Cell, opts: BenchOptions, fingerprint: bool = False, embed_path: Path | None = None) -> CellReply:
    req = CellRequest(
        lab=cell.lab,
        model=cell.model,
        backend=cell.backend,
        device=cell.device,
        threads=_cell_threads(cell, opts),
        seed=opts.seed,
        limit=opts.limit,
        embed_model=str(embed_path) if embed_path else None,
        repetitions=opts.repetitions,
        warmup=opts.warmup,
        lab_repetitions=opts.lab_repetitions,
        pp=opts.pp,
        tg=opts.tg,
        pairs=list(opts.pairs),
        depths=list(opts.depths),
        depth_gen=opts.depth_gen,
        trace=opts.trace,
        embed_backend=opts.embed_backend,
        parent_pid=os.getpid(),
        check_timeout_s=opts.cell_timeout_s,
        fingerprint=fingerprint,
    )
    run = run_child_process(
        "harness.bench.cell",
        req,
        CellReply,
        timeout_s=opts.cell_timeout_s,
        own_group=False,  # one of ours: an ending signal SIGTERMs it, so it ends its lab child first
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a native crash still prints where
        die_with_parent_at_fork=False,  # the cell does it itself, from parent_pid
        merge_stderr=True,
    )
    if run.timed_out:
        return CellReply(
            status="error", error=f"timed out after {opts.cell_timeout_s:.0f} s", wall_s=opts.cell_timeout_s
        )
    if run.reply is not None:
        return run.reply
    tail = run.stdout.text()[-4000:]
    death = signal_death(run.returncode, tail, what="the cell's process")
    if death is not None:
        how = f"{death[0]} before writing a result\n  -> {death[1]}"
    elif run.reply_problem:
        how = run.reply_problem
    else:
        how = f"the cell's process exited with code {run.returncode} before writing a result"
    return CellReply(status="error", error=f"{how}; output tail:\n{tail[-1500:]}", wall_s=0.0)


def _lab_decode(lab: LabFigures | None) -> float | None:
    """The lab's decode tok/s (decode_tok_s, decode_tok_s_p50, ...) when its grader reported one."""
    for k, stat in lab.latency.items() if lab else []:
        if k.startswith("decode_tok_s") and stat.median:
            return stat.median
    return None


def _settings(cell: Cell, opts: BenchOptions, info: dict[str, Any]) -> Settings:
    is_tp = cell.lab == THROUGHPUT
    return Settings(
        n_ctx=info.get("n_ctx"),
        threads=info.get("threads") or _cell_threads(cell, opts),
        n_gpu_layers=info.get("n_gpu_layers"),
        n_batch=info.get("n_batch"),
        n_ubatch=(info.get("extra") or {}).get("n_ubatch"),
        flash_attn=(info.get("extra") or {}).get("flash_attn"),
        prefix_cache=(info.get("extra") or {}).get("prefix_cache"),
        seed=opts.seed,
        temperature=0.0,
        repetitions=opts.repetitions if is_tp else opts.lab_repetitions,
        warmup=opts.warmup if is_tp else 0,  # a lab's first item warms the model; its load time is reported
        limit=None if is_tp else opts.limit,
        embed_quant=cell.embed_quant,
    )


def run_bench(opts: BenchOptions, on_cell: Callable[[int, int, Cell, str], None] | None = None) -> ResultFile:
    """Runs this shard's cells; on_cell(i, n, cell, phase) reports progress ("start" / "done")."""
    spec = matrix_spec(opts)
    cells = shard_cells(expand(spec), opts.shard)
    embed_files = _embed_files(opts, cells)  # before anything is measured: a bad type name stops here
    wants_gpu = any(d in ("gpu", "auto") for d in opts.devices)
    # Bandwidth first, while no cell is running: the figure is the machine's, not the contention's.
    band = bw.measure(include_gpu=wants_gpu) if opts.measure_bandwidth else None
    probe, probe_note = open_probe() if opts.host_probe else (None, None)
    try:
        return _run_cells(opts, spec, cells, band, probe, probe_note, on_cell, embed_files)
    finally:
        if probe:
            probe.close()


def _probe_samples(probe: HostProbe | None) -> list[float]:
    try:
        return probe.sample() if probe else []
    except HarnessError:  # a probe that fails leaves its cells unprobed; it does not stop the bench
        return []


def _probe_stat(before: list[float], after: list[float]) -> Stat | None:
    return summarize(before + after, "tok/s") if before or after else None


def _run_cells(
    opts: BenchOptions,
    spec: MatrixSpec,
    cells: list[Cell],
    band: Bandwidth | None,
    probe: HostProbe | None,
    probe_note: str | None,
    on_cell: Callable[[int, int, Cell, str], None] | None,
    embed_files: dict[tuple[str, str], tuple[Path, EmbedModel]] | None = None,
) -> ResultFile:
    system = collect(band, opts.include_host)
    system.host_probe_method = probe.method if probe else None
    system.host_probe_note = probe_note
    key = system_key(system)
    best_bw = band.cpu_copy_gb_s.max if band and band.cpu_copy_gb_s else None
    gpu_bw = band.gpu_copy_gb_s.max if band and band.gpu_copy_gb_s else None
    runs: list[RunResult] = []
    # between cells, so one probe serves as the "after" of a cell and the "before" of the next
    before = _probe_samples(probe)
    fingerprinted: set[str] = set()
    embed_models = embedding_labs(opts.labs)
    for i, cell in enumerate(cells):
        if on_cell:
            on_cell(i, len(cells), cell, "start")
        emb_name = embed_models.get(cell.lab)
        emb_path, emb_facts = (
            (embed_files or {}).get((emb_name, cell.embed_quant), (None, None))
            if emb_name and cell.embed_quant
            else (None, None)
        )
        if emb_name and emb_facts is None and _embeds_in_process(cell, opts):
            emb_facts = _pinned_embed_model(emb_name)  # the lab's own embedder, as lab.toml names it
        out = _run_cell(cell, opts, fingerprint=group_key(cell) not in fingerprinted, embed_path=emb_path)
        if out.fingerprint:
            fingerprinted.add(group_key(cell))
        after = _probe_samples(probe)
        info = out.info
        # model facts only where the cell's model was loaded (a retrieval-only lab never loads --model)
        sha, size = _model_facts(cell.model) if out.uses_chat_model else (None, None)
        tp, lab = out.throughput, out.lab
        decode = tp.tg_tok_s.mean if tp else _lab_decode(lab)
        device_used = info.get("device") or out.device
        runs.append(
            RunResult(
                cell=cell,
                system=key,
                status=out.status,
                error=out.error,
                device_used=device_used,
                model_sha256=sha,
                model_bytes=size,
                backend_version=info.get("version"),
                backend_info=info,
                settings=_settings(cell, opts, info),
                wall_s=float(out.wall_s or 0.0),
                peak_rss_bytes=out.peak_rss_bytes,
                peak_vram_bytes=out.peak_vram_bytes,
                throughput=tp,
                lab=lab,
                host_probe=_probe_stat(before, after),
                decode_efficiency=bw.decode_efficiency(decode, gpu_bw if device_used == "gpu" else best_bw, size),
                fingerprint=out.fingerprint,
                embed_model=emb_facts if out.status == "ok" else None,
            )
        )
        before = after
        if on_cell:
            on_cell(i, len(cells), cell, out.status)
    result = ResultFile(
        harness_version=__version__,
        created_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        matrix=spec,
        shards=[opts.shard] if opts.shard else [],
        systems={key: system},
        runs=runs,
    )
    if opts.include_host:
        return result
    clean = scrub(result.model_dump(mode="json"), private_strings())
    return ResultFile.model_validate(clean)
