"""A bench cell through its process boundary (CellRequest in, CellReply out, harness/child_process.py),
with no model: the toy lab on the fake backend, and custom backends that crash or hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bench.messages import CellReply, CellRequest
from harness.bench.runner import BenchOptions, _run_cell
from harness.bench.schema import Cell
from harness.child_process import MessageError, parse_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FAKE = f"{FIXTURES / 'fake_backend.py'}:open_fake"

BACKENDS = """
import os, signal, time


def open_crashing(model, **kw):
    os.kill(os.getpid(), signal.SIGSEGV)


def open_hanging(model, **kw):
    time.sleep(120)
"""


@pytest.fixture(autouse=True)
def _toy_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_LABS", str(FIXTURES / "labs"))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))


def _opts(**over) -> BenchOptions:
    fields = dict(
        labs=["toy-lab"],
        models=["fake-model"],
        repetitions=1,
        warmup=0,
        threads=1,
        measure_bandwidth=False,
        host_probe=False,
    )
    return BenchOptions(**{**fields, **over})


def test_a_lab_cell_round_trips_its_figures():
    out = _run_cell(Cell(lab="toy-lab", model="fake-model", backend=FAKE, device="cpu"), _opts())
    assert isinstance(out, CellReply) and out.status == "ok", out.error
    assert out.lab is not None and out.lab.passed and [c.name for c in out.lab.criteria] == ["accuracy", "returned_str"]
    assert out.uses_chat_model and out.info.get("roles", {}).get("chat") is not None
    assert out.wall_s > 0 and out.peak_rss_bytes and out.peak_rss_bytes > 0


def test_a_cell_that_dies_of_a_signal_gives_the_native_crash_report(tmp_path):
    (tmp_path / "backends.py").write_text(BACKENDS)
    cell = Cell(lab="throughput", model="fake-model", backend=f"{tmp_path / 'backends.py'}:open_crashing", device="cpu")
    out = _run_cell(cell, _opts(labs=["throughput"]))
    assert out.status == "error"
    assert out.error.startswith(
        "the cell's process crashed: SIGSEGV (a segmentation fault) in native code "
        "before writing a result\n  -> run `harness doctor`"
    ), out.error
    assert "output tail:" in out.error and "Segmentation fault" in out.error  # faulthandler's stack


def test_a_cell_past_its_time_limit_is_stopped(tmp_path):
    (tmp_path / "backends.py").write_text(BACKENDS)
    cell = Cell(lab="throughput", model="fake-model", backend=f"{tmp_path / 'backends.py'}:open_hanging", device="cpu")
    out = _run_cell(cell, _opts(labs=["throughput"], cell_timeout_s=2))
    assert out == CellReply(status="error", error="timed out after 2 s", wall_s=2)


def test_cell_messages_round_trip_and_name_a_bad_field():
    req = CellRequest(
        lab="throughput",
        model="m",
        backend="llama-cpp",
        device="cpu",
        repetitions=1,
        warmup=0,
        lab_repetitions=1,
        pp=8,
        tg=4,
        pairs=[(8, 4)],
        depths=[0, 64],
        parent_pid=1,
    )
    assert parse_message(CellRequest, req.model_dump_json(), "t") == req
    data = json.loads(req.model_dump_json())
    data["pairs"] = [[8]]
    data["repetitons"] = 2
    with pytest.raises(MessageError) as e:
        parse_message(CellRequest, json.dumps(data), "request.json")
    assert "pairs.0" in e.value.message and "repetitons: unknown key" in e.value.message
    reply = CellReply(status="ok", info={"device": "cpu"}, wall_s=1.5, peak_rss_bytes=10)
    assert parse_message(CellReply, reply.model_dump_json(), "t") == reply
