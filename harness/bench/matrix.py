"""The bench matrix (labs x models x backends x devices [x threads] [x embedding quantisations]) and its
deterministic split into shards."""

from __future__ import annotations

import itertools
import re

from harness.bench.schema import Cell, MatrixSpec, Shard
from harness.errors import HarnessError

THROUGHPUT = "throughput"  # a pseudo-lab: llama-bench-comparable speed figures


def expand(spec: MatrixSpec) -> list[Cell]:
    """All cells, in a stable order: the order of the options as given (duplicates removed). Thread
    counts are a dimension only when there are two or more (one keeps the cells of older files);
    embedding quantisations multiply only the labs that load an embedding model."""
    dedup = lambda xs: list(dict.fromkeys(xs))  # noqa: E731 - keep first occurrence order
    threads: list[int | None] = dedup(spec.threads) if len(set(spec.threads)) > 1 else [None]
    quants = dedup(spec.embed_quants)
    return [
        Cell(lab=lab, model=model, backend=backend, device=device, threads=t, embed_quant=q)
        for lab, model, backend, device, t in itertools.product(
            dedup(spec.labs), dedup(spec.models), dedup(spec.backends), dedup(spec.devices), threads
        )
        for q in (quants if quants and lab in spec.embed_quant_labs else [None])
    ]


def parse_shard(text: str) -> Shard:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise HarnessError(
            f"--shard {text!r} is not of the form i/n with 1 <= i <= n",
            "write e.g. --shard 1/3 on the first of three machines, 2/3 on the second, 3/3 on the third",
        )
    return Shard(index=int(m.group(1)), count=int(m.group(2)))


def shard_cells(cells: list[Cell], shard: Shard | None) -> list[Cell]:
    """Round-robin by position: every cell lands in exactly one shard, and shards stay balanced."""
    if shard is None:
        return list(cells)
    return [c for i, c in enumerate(cells) if i % shard.count == shard.index - 1]


def cell_key(cell: Cell) -> tuple[str, str, str, str, int | None, str | None]:
    return (cell.lab, cell.model, cell.backend, cell.device, cell.threads, cell.embed_quant)


def dimensions_text(cell: Cell) -> str:
    """ " · 2 threads · Q8_0 embedder" for the dimensions the bench varied, "" otherwise (cell labels)."""
    threads = f" · {cell.threads} thread{'s' if cell.threads != 1 else ''}" if cell.threads is not None else ""
    return threads + (f" · {cell.embed_quant} embedder" if cell.embed_quant else "")
