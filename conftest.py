"""Fixtures and CPU sharing for both test trees: tests/ (the harness) and labs/ (each lab's own
tests, labs/<id>/tests/, and the curriculum's graded runs, tests/labs/test_curriculum.py).
Real-model fixtures use the store the test command filled (./scripts/setup pulls the default
models); they fail, not skip, when a model is missing."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from pathlib import Path

import pytest

REAL_LABS = Path(__file__).resolve().parent / "labs"

DEFAULT_CHAT = "smollm2-135m"
DEFAULT_EMBED = "minilm-l6-v2"
SECOND_FAMILY = "gemma3-270m"  # pulled by ./scripts/test (not by the quickstart): a second architecture


def _model_path(name: str):
    from harness.models.store import resolve_model_path

    return resolve_model_path(name)


@pytest.fixture(scope="session")
def chat_model_path():
    return _model_path(DEFAULT_CHAT)


@pytest.fixture(scope="session")
def embed_model_path():
    return _model_path(DEFAULT_EMBED)


@pytest.fixture(scope="session")
def second_family_model_path():
    return _model_path(SECOND_FAMILY)


@pytest.fixture
def real_labs(monkeypatch):
    """The real labs in labs/ (the engine tests use toy labs of their own, tests/fixtures/labs)."""
    monkeypatch.setenv("HARNESS_LABS", str(REAL_LABS))


@pytest.fixture(scope="session")
def lab_threads() -> int | None:
    """Threads for the real-model checks: the backend's default (all cores) unless
    HARNESS_TEST_THREADS says otherwise (e.g. 1 while other model runs share the CPU: two
    multi-threaded llama.cpp runs on the same cores slow each other down many times over)."""
    value = os.environ.get("HARNESS_TEST_THREADS", "").strip()
    return int(value) if value else None


# ------------------------------------------------------------------ sharing the CPU between workers
# ./scripts/test runs the suite on two xdist workers (pytest -n 2). Model tests are most of its time,
# and two 1-thread llama.cpp runs side by side do more work than one 2-thread run (and survive a busy
# neighbour, where a 2-thread run stalls at its barriers). So each worker is pinned to its own share
# of the cores: the backends' default thread count (harness.hw.cpu.default_threads, which reads the
# affinity) then fits that share by itself, and so do OpenMP (FAISS) and every child process.
# A test marked `whole_cpu` (it compares thread counts) takes every core, alone: it holds an
# exclusive lock that every other model test (marked `slow`) must share.


def _worker_share() -> set[int] | None:
    """The cores of this xdist worker, or None outside xdist (then nothing is pinned or locked)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not worker or not count or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    index, n = int(worker.removeprefix("gw")), int(count)
    return set(cores[index % len(cores) :: min(n, len(cores))]) if n > 1 else None


_ALL_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
_SHARE = _worker_share()
if _SHARE:
    os.sched_setaffinity(0, _SHARE)


def _lab_timeout_s(item) -> float:
    """The lab's own time limit (lab.toml timeout_s, a few times its reference's wall time): a
    curriculum test (tests/labs/test_curriculum.py) is ranked by the lab it is parametrized with."""
    from harness.labs.spec import load_spec

    callspec = getattr(item, "callspec", None)
    lab = callspec.params.get("lab") if callspec else None
    toml = REAL_LABS / lab / "lab.toml" if isinstance(lab, str) else None
    return load_spec(toml).timeout_s if toml and toml.is_file() else 0


def pytest_collection_modifyitems(config, items):
    """Under xdist, the lab references first, longest first, then the other model tests, then the
    fast ones, which fill the gaps at the end. ./scripts/test hands out two tests at a time
    (--maxschedchunk 2): worker 1 takes the 1st and 2nd, worker 2 the 3rd and 4th, so the four
    longest are dealt 1st, 4th, 2nd, 3rd to put the two longest on different workers. The tests that
    take every core (whole_cpu) go last, when the other worker runs fast tests that hold no lock."""
    if not hasattr(config, "workerinput"):  # only xdist workers collect (and they see numprocesses None)
        return
    refs = sorted(
        (i for i in items if i.get_closest_marker("slow") and "reference_passes" in i.name),
        key=_lab_timeout_s,
        reverse=True,
    )
    if len(refs) >= 4:
        refs[:4] = [refs[0], refs[3], refs[1], refs[2]]
    ref_ids = {id(i) for i in refs}
    rest = [i for i in items if id(i) not in ref_ids]
    whole = [i for i in rest if i.get_closest_marker("whole_cpu")]  # last: by then the other worker holds
    rest = [i for i in rest if not i.get_closest_marker("whole_cpu")]  # no shared lock to wait behind
    items[:] = (
        refs
        + [i for i in rest if i.get_closest_marker("slow")]
        + [i for i in rest if not i.get_closest_marker("slow")]
        + whole
    )


@pytest.fixture(autouse=True)
def _cpu_share(request, tmp_path_factory):
    whole = request.node.get_closest_marker("whole_cpu") is not None
    if _SHARE is None or not (whole or request.node.get_closest_marker("slow")):
        yield
        return
    import fcntl

    lock_file = tmp_path_factory.getbasetemp().parent / "cpu-share.lock"  # one folder for all workers
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if whole else fcntl.LOCK_SH)
        if whole:
            os.sched_setaffinity(0, _ALL_CORES)
        try:
            yield
        finally:
            if whole:
                os.sched_setaffinity(0, _SHARE)
            fcntl.flock(f, fcntl.LOCK_UN)
