"""The contract between the engine and a lab's grader.py.

A grader defines

    class Settings(GraderSettings):  # lab.toml's [grader] table, each key with its default
        n_items: int = 20

    def grade(solution, ctx: LabContext) -> Measurement  # reads ctx.settings.n_items

`solution` is the learner's module (starter.py copy, solution.py, or any file given
with --solution). The grader calls the lab's entry functions on it, passing the tools
from `ctx` (an LLM, an Embedder, the dataset), and returns what it measured. The
thresholds live in lab.toml; the engine compares `Measurement.values` against them, so a
grader never decides pass/fail by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.labs.grader_settings import GraderSettings, settings_for

__all__ = ["GraderSettings", "LabContext", "LearnerError", "Measurement", "timed"]


@dataclass
class Measurement:
    values: dict[str, float]  # criterion name (as in lab.toml) -> measured value
    metrics: dict[str, Any] = field(default_factory=dict)  # other figures worth showing
    timings: dict[str, Any] = field(default_factory=dict)  # load_s, item_p50_s, item_p95_s, tokens_in, ...
    samples: list[dict[str, Any]] = field(default_factory=list)  # per-item records (kept when asked)
    notes: list[str] = field(default_factory=list)  # sentences for the learner


class LearnerError(Exception):
    """Raised by a grader when the learner's code returned something unusable
    (wrong type, missing function). The message is shown to the learner as is."""


@dataclass
class LabContext:
    """What a grader gets. `llm` and `embedder` load lazily on first use."""

    lab_id: str
    lab_dir: Path
    data_dir: Path
    dataset_path: Path | None  # --dataset, else None (the grader uses its data/ default)
    limit: int | None  # --limit: at most this many items (None = the lab's default)
    seed: int
    config: dict[str, Any]  # lab.toml's [grader] table as written; graders read ctx.settings
    _llm_factory: Callable[[], Any] | None = None
    _embedder_factory: Callable[[], Any] | None = None
    _embedder_opener: Callable[[Path], Any] | None = None  # another GGUF file, opened as ctx.embedder is
    _llm: Any = None
    _embedder: Any = None
    load_s: dict[str, float] = field(default_factory=dict)
    _progress_out: Any = None  # harness.labs.liveness.ProgressWriter, when the engine listens
    _settings: GraderSettings | None = None  # validated by the engine before grade()

    @property
    def settings(self) -> Any:
        """lab.toml's [grader] table as the grader's Settings model (typed attributes, its defaults).
        A context made by hand (a lab's unit tests) validates `config` against it on first use."""
        if self._settings is None:
            self._settings = settings_for(self.lab_dir, self.config)
        return self._settings

    def progress(self, done: int, total: int, what: str = "item") -> None:
        """Call once per item: while a check runs the learner sees "still running: item 12 of 40, 35 s",
        so a hang shows early. Costs one small write; does nothing when nobody listens."""
        if self._progress_out is not None:
            self._progress_out.send(done, total, what)

    @property
    def llm(self):
        if self._llm is None:
            if self._llm_factory is None:
                raise RuntimeError("this lab has no chat model configured")
            t0 = time.perf_counter()
            self._llm = self._llm_factory()
            self.load_s["llm"] = time.perf_counter() - t0
        return self._llm

    @property
    def embedder(self):
        if self._embedder is None:
            if self._embedder_factory is None:
                raise RuntimeError("this lab has no embedding model configured")
            t0 = time.perf_counter()
            self._embedder = self._embedder_factory()
            self.load_s["embedder"] = time.perf_counter() - t0
        return self._embedder

    def open_embedder(self, model_path: Path | str):
        """A new embedder over another GGUF file (e.g. a quantised copy of the embedding model), opened
        with the same backend, device and threads as ctx.embedder. The caller closes it."""
        if self._embedder_opener is None:
            raise RuntimeError("this lab has no embedding model configured")
        return self._embedder_opener(Path(model_path))

    def item_limit(self, default: int) -> int:
        return default if self.limit is None else min(default, self.limit)


@contextmanager
def timed(into: list[float]) -> Iterator[None]:
    """Append the wall time of the block to `into` (per-item latencies)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        into.append(time.perf_counter() - t0)
