"""What crosses the boundary of a bench cell: the request harness.bench.runner sends to
harness.bench.cell, and the reply the cell sends back (harness/child_process.py carries them)."""

from __future__ import annotations

from typing import Any, Literal

from harness.bench.schema import Fingerprint, LabFigures, ThroughputResult
from harness.child_process import Message


class CellRequest(Message):
    lab: str  # a lab id, or "throughput"
    model: str
    backend: str
    device: str
    threads: int | None = None
    seed: int = 0
    limit: int | None = None
    embed_model: str | None = None  # a quantised copy of the lab's embedding model (--embed-quant)
    embed_backend: str | None = None
    repetitions: int
    warmup: int
    lab_repetitions: int
    pp: int
    tg: int
    pairs: list[tuple[int, int]]
    depths: list[int] = []
    depth_gen: int | None = None
    trace: bool = False
    parent_pid: int | None = None  # the cell dies with this process (harness/procs.py)
    # a lab's timeout_s is sized for its default model and a learner's hang; the bench runs the
    # reference on bigger models too, under its own cell limit
    check_timeout_s: float | None = None
    fingerprint: bool = False  # the first cell of each model · backend · device (comparability.py)


class CellReply(Message):
    status: Literal["ok", "error"]
    error: str | None = None
    wall_s: float = 0.0
    peak_rss_bytes: int | None = None
    peak_vram_bytes: int | None = None  # None off GPU
    info: dict[str, Any] = {}  # what the backend reported (the lab's chat model, with "roles")
    device: str | None = None
    throughput: ThroughputResult | None = None
    load_s: float | None = None
    lab: LabFigures | None = None
    uses_chat_model: bool = True  # False: a retrieval-only lab never loaded --model
    fingerprint: Fingerprint | None = None
    fingerprint_error: str | None = None
